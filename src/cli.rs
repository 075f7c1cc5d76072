//! The client commands of the `tidepool` CLI (`deploy`, `invoke`,
//! `functions`, `mappings`, `logs`): each talks to a running server over
//! HTTP/1.1 with a small client of its own (one connection per request,
//! `Connection: close`), since a development server is on this machine.
//! An `https://` endpoint is reached over TLS, trusting the system's roots,
//! the CA file of `--ca-bundle` or `AWS_CA_BUNDLE` (as the AWS CLI does) and
//! the local CA `tidepool serve --tls self-signed` made under the default
//! data directory.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use tidepool::lambda::manifest::Manifest;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest response the client reads (an Invoke payload is at most 6 MB).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
/// How long one ordinary request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a deploy step may take: compiling a large component is slow.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long the server holds a `logs --follow` request open waiting for a
/// line: short, since an open request delays the server's shutdown.
const FOLLOW_WAIT_SECS: u64 = 5;
/// Lambda's longest timeout, and a margin: an `invoke` waits this long.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(900 + 30);

/// The default data directory: `$XDG_DATA_HOME/tidepool`, else
/// `~/.local/share/tidepool`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(d).join("tidepool");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".local/share/tidepool"),
        None => PathBuf::from("tidepool-data"),
    }
}

/// The CA files a client trusts besides the system's: `ca_bundle` (else
/// `AWS_CA_BUNDLE`), and the local CA of `--tls self-signed` in the data
/// directory (`TIDEPOOL_DATA_DIR`, else the default one) when it exists.
pub fn trusted_cas(ca_bundle: Option<&Path>) -> Vec<PathBuf> {
    let mut cas: Vec<PathBuf> = match ca_bundle {
        Some(p) => vec![p.to_path_buf()],
        None => std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty()).map(PathBuf::from).into_iter().collect(),
    };
    let data =
        std::env::var_os("TIDEPOOL_DATA_DIR").filter(|v| !v.is_empty()).map_or_else(default_data_dir, PathBuf::from);
    cas.extend(local_ca(&data));
    cas
}

/// The local CA `serve --tls self-signed` made in the data directory
/// `data`, if it did.
pub fn local_ca(data: &Path) -> Option<PathBuf> {
    Some(data.join(tidepool::http::tls::SELF_SIGNED_DIR).join(tidepool::http::tls::CA_FILE)).filter(|p| p.is_file())
}

/// A server's address, from `http://host:port` or `https://host:port`.
#[derive(Clone)]
pub struct Endpoint {
    authority: String,
    /// The client's TLS configuration, for an `https://` endpoint.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

impl Endpoint {
    /// An endpoint whose TLS, if any, trusts the system's roots and the CA
    /// files `cas`.
    pub fn parse_trusting(url: &str, cas: &[PathBuf]) -> anyhow::Result<Endpoint> {
        let (rest, https) = if let Some(rest) = url.strip_prefix("http://") {
            (rest, false)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (rest, true)
        } else {
            bail!("endpoint {url}: expected http://host:port or https://host:port");
        };
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            bail!("endpoint {url}: expected http://host:port or https://host:port");
        }
        let has_port = if authority.starts_with('[') { authority.contains("]:") } else { authority.contains(':') };
        let authority =
            if has_port { authority.to_string() } else { format!("{authority}:{}", if https { 443 } else { 80 }) };
        let tls = if https {
            tidepool::http::tls::server_name(&authority)?;
            Some(tidepool::http::tls::client_config(cas)?)
        } else {
            None
        };
        Ok(Endpoint { authority, tls })
    }

    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls.is_some() { "https" } else { "http" }, self.authority)
    }
}

/// A connection to the server: a socket, or TLS over it.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// A response: status, headers (lowercase names) and body.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).context("parse the server's response")
    }

    /// `Type: message` of a Lambda error response.
    fn error_text(&self) -> String {
        let kind = self.header("x-amzn-errortype").unwrap_or("Error").to_string();
        let message = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("message").or_else(|| v.get("Message")).and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned());
        format!("{kind}: {message} (HTTP {})", self.status)
    }

    /// The JSON body of a 2xx response, else the error as an `Err`.
    fn ok_json(&self) -> anyhow::Result<Value> {
        if !(200..300).contains(&self.status) {
            bail!("{}", self.error_text());
        }
        self.json()
    }
}

/// One HTTP/1.1 request.
pub async fn request(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> anyhow::Result<HttpResponse> {
    let exchange = async {
        let tcp = TcpStream::connect(&endpoint.authority)
            .await
            .with_context(|| format!("connect to {} (is `tidepool serve` running?)", endpoint.url()))?;
        let mut stream: Box<dyn Duplex> = match &endpoint.tls {
            None => Box::new(tcp),
            Some(config) => {
                let name = tidepool::http::tls::server_name(&endpoint.authority)?;
                let tls =
                    tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp).await.with_context(|| {
                        format!(
                            "TLS with {} (a server with `--tls self-signed` is trusted through its CA file: \
                         --ca-bundle or AWS_CA_BUNDLE)",
                            endpoint.url()
                        )
                    })?;
                Box::new(tls)
            }
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            endpoint.authority,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        for (k, v) in signature(endpoint, method, path, headers, body) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.context("send the request")?;
        stream.write_all(body).await.context("send the request body")?;
        // TLS may hold the last records until flushed.
        stream.flush().await.context("send the request")?;
        let mut raw = Vec::new();
        (&mut stream).take(MAX_RESPONSE_BYTES).read_to_end(&mut raw).await.context("read the response")?;
        parse_response(&raw)
    };
    tokio::time::timeout(timeout, exchange).await.with_context(|| format!("{method} {path}: timed out"))?
}

/// SigV4 headers for a request, when the standard variables give
/// credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, and
/// `AWS_SESSION_TOKEN`, `AWS_REGION` or `AWS_DEFAULT_REGION`): a server
/// with `--auth` takes only signed requests; an open one ignores them.
fn signature(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    // A value that would break the request head is not used.
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty() && !v.chars().any(char::is_control));
    let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) else {
        return Vec::new();
    };
    let cred = tidepool::http::sigv4::Credential {
        user: String::new(),
        access_key_id: key,
        secret_access_key: secret,
        session_token: var("AWS_SESSION_TOKEN"),
    };
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).unwrap_or_else(|| "us-east-1".into());
    tidepool::http::auth::sign_request(&cred, &region, method, &endpoint.authority, path, headers, body)
}

fn parse_response(raw: &[u8]) -> anyhow::Result<HttpResponse> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the response has no header end (is the server HTTPS? then use an https:// endpoint)")?;
    let head = std::str::from_utf8(&raw[..split]).context("the response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .context("the response has no status line")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        decode_chunked(rest)?
    } else {
        match headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok()) {
            Some(n) if n <= rest.len() => rest[..n].to_vec(),
            Some(_) => bail!("the response ended before its body"),
            None => rest.to_vec(),
        }
    };
    Ok(HttpResponse { status, headers, body })
}

fn decode_chunked(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").context("a chunk size line")?;
        let size_text = std::str::from_utf8(&data[..line_end]).context("a chunk size")?;
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).context("a chunk size")?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data.get(..size).context("the response ended inside a chunk")?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).context("the response ended after a chunk")?;
    }
}

/// Percent-encodes a path segment (function names and ARNs).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b':' | b'$') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1024 * 1024 => format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)),
        n if n >= 1024 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn human_ms(ms: u64) -> String {
    match ms {
        ms if ms >= 3_600_000 => format!("{:.1} h", ms as f64 / 3_600_000.0),
        ms if ms >= 60_000 => format!("{:.1} min", ms as f64 / 60_000.0),
        ms if ms >= 1000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{ms} ms"),
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------- deploy

/// `tidepool deploy`: applies the manifest at `path` to the server, one item
/// at a time (tables, then functions, then mappings, then the whole manifest
/// for anything else it declares), printing each step as it goes. Code files
/// are read here and sent inline.
pub async fn deploy(path: &Path, dry_run: bool, endpoint: &Endpoint) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read manifest {}", path.display()))?;
    let manifest = Manifest::parse(&text).with_context(|| format!("parse manifest {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = serde_json::Map::new();
    let mut sizes = Vec::new();
    for f in &manifest.functions {
        let code_path = base.join(&f.code);
        let code = tidepool::lambda::manifest::read_code(base, &f.code)
            .map_err(|e| anyhow::anyhow!("read the code of function {} ({}): {e}", f.name, code_path.display()))?;
        sizes.push(code.len() as u64);
        files.insert(
            f.code.to_string_lossy().into_owned(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(&code)),
        );
    }
    for t in &manifest.tables {
        if let Some(seed) = &t.seed {
            let path = base.join(seed);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("read the seed of table {} ({})", t.name, path.display()))?;
            files.insert(
                seed.to_string_lossy().into_owned(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(&bytes)),
            );
        }
    }
    if dry_run {
        println!("plan for {} on {} (nothing is changed):", path.display(), endpoint.url());
        let body = json!({"Manifest": text, "Files": files, "DryRun": true}).to_string();
        let headers = [("Content-Type", "application/json")];
        let resp = request(endpoint, "POST", "/tidepool/deploy", &headers, body.as_bytes(), DEPLOY_TIMEOUT).await?;
        let out = resp.ok_json().context("plan the deploy")?;
        let plan: Vec<String> = out["Changes"].as_array().map(|a| a.iter().map(cell).collect()).unwrap_or_default();
        for change in &plan {
            println!("  would have {change}");
        }
        println!("{} change{}", plan.len(), if plan.len() == 1 { "" } else { "s" });
        return Ok(());
    }
    println!("deploying {} to {}", path.display(), endpoint.url());
    // The whole manifest is checked first, so that a refusal (drift, a
    // stream change that would orphan a mapping, a bad value) comes before
    // the first item is applied, not halfway.
    let check = json!({"Manifest": text, "Files": files, "DryRun": true}).to_string();
    let headers = [("Content-Type", "application/json")];
    request(endpoint, "POST", "/tidepool/deploy", &headers, check.as_bytes(), DEPLOY_TIMEOUT)
        .await?
        .ok_json()
        .context("check the manifest; nothing was applied")?;
    let mut steps: Vec<(String, Value)> = Vec::new();
    for (i, t) in manifest.tables.iter().enumerate() {
        steps.push((format!("table {}", t.name), json!({"Kind": "table", "Index": i})));
    }
    for (i, f) in manifest.functions.iter().enumerate() {
        let size = sizes.get(i).copied().unwrap_or(0);
        steps.push((format!("function {} ({})", f.name, human_bytes(size)), json!({"Kind": "function", "Index": i})));
    }
    for (i, m) in manifest.mappings.iter().enumerate() {
        steps.push((format!("mapping {} <- {}", m.function, m.table), json!({"Kind": "mapping", "Index": i})));
    }
    steps.push(("the rest of the manifest".into(), Value::Null));
    let mut changes = 0;
    let total = steps.len();
    for (n, (label, only)) in steps.into_iter().enumerate() {
        print!("[{}/{total}] {label} ... ", n + 1);
        let _ = std::io::stdout().flush();
        let step_files = match only.get("Kind").and_then(Value::as_str) {
            Some(kind @ ("function" | "table")) => {
                let i = only["Index"].as_u64().unwrap_or(0) as usize;
                let key = if kind == "function" {
                    manifest.functions.get(i).map(|f| f.code.to_string_lossy().into_owned())
                } else {
                    manifest.tables.get(i).and_then(|t| t.seed.as_ref()).map(|p| p.to_string_lossy().into_owned())
                }
                .unwrap_or_default();
                let mut one = serde_json::Map::new();
                if let Some(v) = files.get(&key) {
                    one.insert(key, v.clone());
                }
                one
            }
            Some(_) => serde_json::Map::new(),
            None => files.clone(),
        };
        let body = json!({"Manifest": text, "Files": step_files, "Only": only}).to_string();
        let resp = request(
            endpoint,
            "POST",
            "/tidepool/deploy",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
            DEPLOY_TIMEOUT,
        )
        .await?;
        let out = match resp.ok_json() {
            Ok(v) => v,
            Err(e) => {
                println!("failed");
                return Err(e.context(format!("deploy {label}")));
            }
        };
        let done: Vec<String> = out["Changes"].as_array().map(|a| a.iter().map(cell).collect()).unwrap_or_default();
        if done.is_empty() {
            println!("unchanged");
        } else {
            println!("{}", done.join("; "));
        }
        changes += done.len();
    }
    println!("done: {changes} change{}", if changes == 1 { "" } else { "s" });
    Ok(())
}

// ---------------------------------------------------------------- invoke

/// `tidepool invoke`: prints the response payload; a function error goes to
/// stderr and makes the exit status 1. With `tail`, the invocation's log
/// goes to stderr too.
pub async fn invoke(function: &str, payload: &str, tail: bool, endpoint: &Endpoint) -> anyhow::Result<i32> {
    let mut headers = vec![("Content-Type", "application/json")];
    if tail {
        headers.push(("X-Amz-Log-Type", "Tail"));
    }
    let path = format!("/2015-03-31/functions/{}/invocations", segment(function));
    let resp = request(endpoint, "POST", &path, &headers, payload.as_bytes(), INVOKE_TIMEOUT).await?;
    if resp.status != 200 {
        eprintln!("{}", resp.error_text());
        return Ok(1);
    }
    if let Some(log) = resp.header("x-amz-log-result")
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(log)
    {
        eprint!("{}", String::from_utf8_lossy(&bytes));
    }
    let body = String::from_utf8_lossy(&resp.body);
    match resp.header("x-amz-function-error") {
        Some(kind) => {
            eprintln!("function error ({kind}): {body}");
            Ok(1)
        }
        None => {
            println!("{body}");
            Ok(0)
        }
    }
}

// ---------------------------------------------------------------- functions, mappings

/// `tidepool functions`: a table of the deployed functions.
pub async fn functions(endpoint: &Endpoint) -> anyhow::Result<()> {
    let mut all = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let path = match &marker {
            Some(m) => format!("/2015-03-31/functions/?MaxItems=50&Marker={}", segment(m)),
            None => "/2015-03-31/functions/?MaxItems=50".to_string(),
        };
        let page = request(endpoint, "GET", &path, &[], b"", REQUEST_TIMEOUT).await?.ok_json()?;
        all.extend(page["Functions"].as_array().cloned().unwrap_or_default());
        match page["NextMarker"].as_str() {
            Some(m) => marker = Some(m.to_string()),
            None => break,
        }
    }
    let mut rows = Vec::new();
    for f in &all {
        let name = cell(&f["FunctionName"]);
        let path = format!("/2019-09-30/functions/{}/concurrency", segment(&name));
        let concurrency = match request(endpoint, "GET", &path, &[], b"", REQUEST_TIMEOUT).await?.ok_json() {
            Ok(c) => c["ReservedConcurrentExecutions"].as_u64().map_or("-".to_string(), |n| n.to_string()),
            Err(_) => "?".into(),
        };
        rows.push(vec![
            name,
            cell(&f["State"]),
            cell(&f["Runtime"]),
            format!("{} MB", cell(&f["MemorySize"])),
            format!("{} s", cell(&f["Timeout"])),
            concurrency,
            human_bytes(f["CodeSize"].as_u64().unwrap_or(0)),
            cell(&f["LastModified"]),
        ]);
    }
    if rows.is_empty() {
        println!("no functions");
        return Ok(());
    }
    print_table(&["NAME", "STATE", "RUNTIME", "MEMORY", "TIMEOUT", "RESERVED", "CODE", "LAST MODIFIED"], &rows);
    Ok(())
}

/// `tidepool cost`: each table's cost so far and a month at the observed
/// rate, in its own mode and in both, with the cheaper one named.
pub async fn cost(endpoint: &Endpoint, json: bool) -> anyhow::Result<()> {
    let out = request(endpoint, "GET", "/tidepool/cost", &[], b"", REQUEST_TIMEOUT).await?.ok_json()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let usd = |v: &Value| {
        let v = v.as_f64().unwrap_or(0.0);
        if v.abs() < 1.0 { format!("${v:.6}") } else { format!("${v:.2}") }
    };
    let units = |v: &Value| format!("{:.0}", v.as_f64().unwrap_or(0.0));
    let mut rows = Vec::new();
    for t in out["Tables"].as_array().cloned().unwrap_or_default() {
        let requests = &t["ProjectedMonthlyRequests"];
        rows.push(vec![
            cell(&t["TableName"]),
            cell(&t["BillingMode"]),
            usd(&t["CostSoFar"]["total"]),
            usd(&t["ProjectedMonthly"]["total"]),
            usd(&requests["OnDemand"]),
            format!(
                "{} ({} RCU, {} WCU)",
                usd(&requests["Provisioned"]),
                units(&requests["ProvisionedReadCapacityUnits"]),
                units(&requests["ProvisionedWriteCapacityUnits"])
            ),
            cell(&requests["Cheaper"]),
        ]);
    }
    if rows.is_empty() {
        println!("no tables");
        return Ok(());
    }
    print_table(
        &["TABLE", "MODE", "SO FAR", "MONTH AT THIS RATE", "REQUESTS ON-DEMAND", "REQUESTS PROVISIONED", "CHEAPER"],
        &rows,
    );
    println!(
        "total so far {} ({} after the free tier); a month at this rate {} ({} after the free tier); {} prices of {}",
        usd(&out["CostSoFar"]),
        usd(&out["CostSoFarAfterFreeTier"]),
        usd(&out["ProjectedMonthly"]),
        usd(&out["ProjectedMonthlyAfterFreeTier"]),
        cell(&out["Region"]),
        cell(&out["PricesOn"]),
    );
    Ok(())
}

/// `tidepool insights`: the keys of a table (or global index) accessed and
/// throttled most over the last minutes, per Contributor Insights rule.
pub async fn insights(
    endpoint: &Endpoint,
    table: &str,
    index: Option<&str>,
    minutes: u64,
    top: usize,
    json: bool,
) -> anyhow::Result<()> {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let mut path = format!("/tidepool/insights?table={}&minutes={minutes}&top={top}", enc(table));
    if let Some(i) = index {
        path.push_str(&format!("&index={}", enc(i)));
    }
    let out = request(endpoint, "GET", &path, &[], b"", REQUEST_TIMEOUT).await?.ok_json()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for rule in out["Rules"].as_array().cloned().unwrap_or_default() {
        println!(
            "{}: {} events in the last {minutes} min ({})",
            cell(&rule["Description"]),
            rule["AggregateValue"].as_u64().unwrap_or(0),
            cell(&rule["RuleName"]),
        );
        let labels: Vec<String> = rule["KeyLabels"]
            .as_array()
            .map(|l| l.iter().map(|k| cell(k).to_uppercase()).collect())
            .unwrap_or_default();
        let mut header: Vec<&str> = labels.iter().map(String::as_str).collect();
        header.push("EVENTS");
        let rows: Vec<Vec<String>> = rule["Contributors"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let mut row: Vec<String> =
                            c["Keys"].as_array().map(|k| k.iter().map(cell).collect()).unwrap_or_default();
                        row.push(c["ApproximateAggregateValue"].as_u64().unwrap_or(0).to_string());
                        row
                    })
                    .collect()
            })
            .unwrap_or_default();
        if rows.is_empty() {
            println!("  none");
        } else {
            print_table(&header, &rows);
        }
        println!();
    }
    Ok(())
}

/// `tidepool mappings`: a table of the event source mappings with their
/// delivery state: iterator age, counts and the last processing result.
pub async fn mappings(endpoint: &Endpoint) -> anyhow::Result<()> {
    let out = request(endpoint, "GET", "/tidepool/mappings", &[], b"", REQUEST_TIMEOUT).await?.ok_json()?;
    let mut rows = Vec::new();
    for m in out["Mappings"].as_array().cloned().unwrap_or_default() {
        let source = m["EventSourceArn"].as_str().unwrap_or_default();
        let table = tidepool_runtime::esm::config::parse_stream_arn(source).map_or(source, |(t, _)| t).to_string();
        let total = &m["Metrics"]["total"];
        let count = |k: &str| total[k].as_u64().map_or("-".to_string(), |n| n.to_string());
        rows.push(vec![
            cell(&m["UUID"]),
            cell(&m["FunctionName"]),
            table,
            cell(&m["State"]),
            cell(&m["BatchSize"]),
            total["iteratorAgeMs"].as_u64().map_or("-".to_string(), human_ms),
            count("invoked"),
            count("failed"),
            count("dropped"),
            m["Leases"]["Held"].as_array().map_or("-".to_string(), |h| h.len().to_string()),
            cell(&m["LastProcessingResult"]),
        ]);
    }
    if rows.is_empty() {
        println!("no event source mappings");
        return Ok(());
    }
    print_table(
        &[
            "UUID",
            "FUNCTION",
            "TABLE",
            "STATE",
            "BATCH",
            "ITERATOR AGE",
            "INVOKED",
            "FAILED",
            "DROPPED",
            "LEASES",
            "LAST RESULT",
        ],
        &rows,
    );
    // A worker of a fleet says who it is.
    let workers: std::collections::BTreeSet<&str> =
        out["Mappings"].as_array().into_iter().flatten().filter_map(|m| m["Leases"]["Worker"].as_str()).collect();
    for w in workers {
        println!("leases held as {w}");
    }
    Ok(())
}

// ---------------------------------------------------------------- schedules

/// What `tidepool schedules` does to the schedule it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleAction {
    Enable,
    Disable,
    Delete,
}

/// `tidepool schedules`: the schedules, or one of them enabled, disabled
/// or deleted.
pub async fn schedules(action: Option<(ScheduleAction, &str)>, endpoint: &Endpoint) -> anyhow::Result<()> {
    if let Some((action, name)) = action {
        let path = format!("/tidepool/schedules/{}", segment(name));
        let (method, body, done) = match action {
            ScheduleAction::Enable => ("PUT", r#"{"State":"ENABLED"}"#, "enabled"),
            ScheduleAction::Disable => ("PUT", r#"{"State":"DISABLED"}"#, "disabled"),
            ScheduleAction::Delete => ("DELETE", "", "deleted"),
        };
        let headers: &[(&str, &str)] = if body.is_empty() { &[] } else { &[("content-type", "application/json")] };
        request(endpoint, method, &path, headers, body.as_bytes(), REQUEST_TIMEOUT).await?.ok_json()?;
        println!("schedule {name} {done}");
        return Ok(());
    }
    let out = request(endpoint, "GET", "/tidepool/schedules", &[], b"", REQUEST_TIMEOUT).await?.ok_json()?;
    let rows: Vec<Vec<String>> = out["Schedules"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            ["Name", "Function", "Expression", "State", "NextFire", "LastFire", "Succeeded", "Failed", "LastError"]
                .iter()
                .map(|k| cell(&s[*k]))
                .collect()
        })
        .collect();
    if rows.is_empty() {
        println!("no schedules");
        return Ok(());
    }
    print_table(&["NAME", "FUNCTION", "EXPRESSION", "STATE", "NEXT", "LAST", "OK", "FAILED", "LAST ERROR"], &rows);
    Ok(())
}

// ---------------------------------------------------------------- reset

/// `tidepool reset`: empties the server; prints what went.
pub async fn reset(endpoint: &Endpoint) -> anyhow::Result<()> {
    let out = request(endpoint, "POST", "/tidepool/reset", &[], b"", RESET_TIMEOUT).await?.ok_json()?;
    let d = &out["Deleted"];
    let names = |v: &Value| {
        let list: Vec<String> = v.as_array().into_iter().flatten().map(cell).collect();
        if list.is_empty() { "none".to_string() } else { list.join(", ") }
    };
    println!("deleted {} mappings, {} schedules", cell(&d["Mappings"]), cell(&d["Schedules"]));
    println!("deleted functions: {}", names(&d["Functions"]));
    println!("deleted tables: {}", names(&d["Tables"]));
    println!("deleted {} backups", cell(&d["Backups"]));
    for k in out["Kept"].as_array().into_iter().flatten() {
        println!("kept table {}: {}", cell(&k["Table"]), cell(&k["Reason"]));
    }
    Ok(())
}

/// Deleting many tables takes a while.
const RESET_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------- logs

/// `tidepool logs`: prints the function's kept log lines; with `follow`,
/// keeps printing new ones until interrupted.
pub async fn logs(function: &str, follow: bool, endpoint: &Endpoint) -> anyhow::Result<()> {
    let mut since = 0u64;
    let mut first = true;
    loop {
        let wait = if follow { FOLLOW_WAIT_SECS } else { 0 };
        let path = format!("/tidepool/logs/{}?since={since}&wait={wait}", segment(function));
        let timeout = REQUEST_TIMEOUT + Duration::from_secs(wait);
        let page = request(endpoint, "GET", &path, &[], b"", timeout).await?.ok_json()?;
        if page["dropped"].as_bool() == Some(true) && !first {
            eprintln!("[older lines were dropped before they could be shown]");
        }
        first = false;
        let lines = page["lines"].as_array().cloned().unwrap_or_default();
        let printed = (|| {
            let mut out = std::io::stdout().lock();
            for l in &lines {
                // As `aws logs tail`: each line after its time (UTC).
                let at = tidepool_store::format_timestamp_millis(l["timestamp"].as_u64().unwrap_or_default());
                writeln!(out, "{at}Z {}", l["message"].as_str().unwrap_or_default())?;
            }
            out.flush()
        })();
        match printed {
            Ok(()) => {}
            // The reader went away (`tidepool logs f | head`): done.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("write to stdout"),
        }
        since = page["nextCursor"].as_u64().unwrap_or(since);
        if lines.is_empty() && !follow {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(Endpoint::parse_trusting("http://127.0.0.1:8000", &[]).unwrap().authority, "127.0.0.1:8000");
        assert_eq!(Endpoint::parse_trusting("http://localhost/", &[]).unwrap().authority, "localhost:80");
        let tls = Endpoint::parse_trusting("https://localhost", &[]).unwrap();
        assert_eq!((tls.authority.as_str(), tls.url().as_str()), ("localhost:443", "https://localhost:443"));
        assert_eq!(Endpoint::parse_trusting("http://[::1]", &[]).unwrap().authority, "[::1]:80");
        assert!(Endpoint::parse_trusting("ftp://x", &[]).is_err());
        assert!(Endpoint::parse_trusting("http://x/path", &[]).is_err());
    }

    #[test]
    fn responses_parse_with_length_or_chunks() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nX-A: b\r\n\r\nhi").unwrap();
        assert_eq!((r.status, r.body.as_slice(), r.header("x-a")), (200, &b"hi"[..], Some("b")));
        let r = parse_response(
            b"HTTP/1.1 404 Not Found\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, &b"abc"[..]));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhi").is_err());
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("arn:aws:lambda:r:1:function:f"), "arn:aws:lambda:r:1:function:f");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
