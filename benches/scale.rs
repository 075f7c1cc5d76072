//! The scale benchmark (issue 21): the same speed at 10 million items as at
//! ten thousand. Run with
//!
//! ```sh
//! cargo bench --bench scale -- [--sizes 10000,1000000,10000000] [--values json,random]
//!     [--secs 10] [--sustain-secs 600] [--conns 16] [--cache-mb 256] [--hold-secs 0]
//!     [--phases put,uniform,zipf,query,update,recovery] [--auth off|sign|on] [--tls off|on]
//!     [--encryption off|on]
//! ```
//!
//! It starts `tidepool serve` as a child process on a fresh data directory
//! (with `examples/tidepool.toml`, for the trigger), and for each kind of
//! value loads a table of 1 KB items (`pk` S, `sk` N, ten items per
//! partition) with BatchWriteItem up to each size, then measures from
//! `--conns` keep-alive connections: PutItem of new keys, GetItem (uniform
//! and Zipf-distributed keys over the whole table), Query (a partition of
//! ten items), Scan (MB/s of response, one connection), UpdateItem (ADD on
//! random items), a trigger draining a backlog of 20,000 records, the
//! restart after a clean stop and after `kill -9` under load, RSS and disk
//! bytes per byte of DynamoDB item size. A second client sends one GetItem
//! every 5 ms throughout and reports its p99 per phase. After the last size
//! of the first kind it runs PutItem for `--sustain-secs` and reports each
//! minute.
//!
//! The `recovery` phase (issue 15, Tidepool only) measures backups and
//! point-in-time recovery at each size: CreateBackup until `AVAILABLE`,
//! with the p99 of a second client's PutItem (one every 5 ms) before and
//! during it; RestoreTableFromBackup until `ACTIVE`; enabling PITR until
//! `ENABLED`; PutItem and UpdateItem throughput with PITR off, on, on and
//! off again (each state's mean);
//! RestoreTableToPointInTime (latest) until `ACTIVE`; an export
//! (DynamoDB JSON, gzip) until `COMPLETED` and its import into a new table.
//!
//! Values: `json`, a 1,000-byte JSON document as a string (compresses as
//! real documents do), and `random`, 1,000 random bytes as a binary (does
//! not compress).
//!
//! `SCALE_PEER_CMD` measures another server with the same client instead:
//! a command line with `{port}` and `{dir}` (a fresh directory), such as
//! `dynoxide --port {port} --db-path {dir}/db.sqlite`. The trigger phase is
//! Tidepool's alone. `SCALE_TIDEPOOL_BIN` runs another build of Tidepool
//! (a copy of an earlier `target/release/tidepool`) for an A/B comparison.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TABLE: &str = "scale";
/// Items per partition: a Query reads this many.
const PER_PARTITION: u64 = 10;
const BATCH: u64 = 25;
const BACKLOG: u64 = 20_000;
const VALUE_BYTES: usize = 1000;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Json,
    Random,
}

struct Opts {
    sizes: Vec<u64>,
    kinds: Vec<Kind>,
    secs: u64,
    sustain_secs: u64,
    conns: usize,
    cache_mb: u64,
    /// Seconds to keep the server up after each size's phases, for an
    /// outside client (wrk): `HOLD port=… items=…` is printed first.
    hold_secs: u64,
    /// The measured phases in order (`--phases put,uniform,zipf,query,update`):
    /// reordering them tells an effect of the phase before from one of the
    /// access pattern.
    phases: Vec<Op>,
    peer: Option<String>,
    /// `--auth off|sign|on` (issue 16): `sign` signs every request with
    /// SigV4 (an open server ignores it); `on` also starts the server with
    /// `--auth`, so it verifies each. `sign` against `on` is the server's
    /// cost of verifying.
    auth: Auth,
    /// `--tls on` (issue 16): the server serves HTTPS with `--tls
    /// self-signed` and every connection of the client is TLS, trusting
    /// its local CA.
    tls: bool,
    /// `--encryption on` (issue 16): the server encrypts values at rest
    /// (`--encryption-key` with a key made for the run).
    encryption: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Auth {
    Off,
    Sign,
    On,
}

/// The bench's key, when it signs.
const BENCH_KEY: &str = "AKIDBENCH";
const BENCH_SECRET: &str = "bench-secret";
/// Whether requests are signed (`--auth sign|on`).
static SIGN: AtomicBool = AtomicBool::new(false);
/// The client's TLS, once the server under `--tls on` has made its CA.
static TLS: std::sync::Mutex<Option<Arc<rustls::ClientConfig>>> = std::sync::Mutex::new(None);

/// A connection: a socket, or TLS over it.
trait Duplex: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Duplex for T {}

fn parse_opts() -> Opts {
    let mut o = Opts {
        sizes: vec![10_000, 1_000_000, 10_000_000],
        kinds: vec![Kind::Json, Kind::Random],
        secs: 10,
        sustain_secs: 600,
        conns: 16,
        cache_mb: 256,
        hold_secs: 0,
        phases: vec![Op::Put, Op::GetUniform, Op::GetZipf, Op::Query, Op::Update],
        peer: std::env::var("SCALE_PEER_CMD").ok().filter(|s| !s.is_empty()),
        auth: Auth::Off,
        tls: false,
        encryption: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--sizes" => o.sizes = v.split(',').map(|s| s.parse().expect("a size")).collect(),
            "--values" => {
                o.kinds = v
                    .split(',')
                    .map(|s| match s {
                        "json" => Kind::Json,
                        "random" => Kind::Random,
                        other => panic!("unknown value kind {other}"),
                    })
                    .collect()
            }
            "--secs" => o.secs = v.parse().expect("seconds"),
            "--sustain-secs" => o.sustain_secs = v.parse().expect("seconds"),
            "--conns" => o.conns = v.parse().expect("connections"),
            "--cache-mb" => o.cache_mb = v.parse().expect("MiB"),
            "--hold-secs" => o.hold_secs = v.parse().expect("seconds"),
            "--auth" => {
                o.auth = match v.as_str() {
                    "off" => Auth::Off,
                    "sign" => Auth::Sign,
                    "on" => Auth::On,
                    other => panic!("unknown auth mode {other}"),
                }
            }
            "--encryption" => {
                o.encryption = match v.as_str() {
                    "off" => false,
                    "on" => true,
                    other => panic!("unknown encryption mode {other}"),
                }
            }
            "--tls" => {
                o.tls = match v.as_str() {
                    "off" => false,
                    "on" => true,
                    other => panic!("unknown tls mode {other}"),
                }
            }
            "--phases" => {
                o.phases = v
                    .split(',')
                    .map(|s| match s {
                        "put" => Op::Put,
                        "uniform" => Op::GetUniform,
                        "zipf" => Op::GetZipf,
                        "query" => Op::Query,
                        "update" => Op::Update,
                        "recovery" => Op::Recovery,
                        other => panic!("unknown phase {other}"),
                    })
                    .collect()
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

/// xorshift64*: fast, seedable, good enough for keys and values.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// YCSB's scrambled Zipfian generator (theta 0.99): a few keys are hot,
/// spread over the whole key space.
struct Zipf {
    n: u64,
    theta: f64,
    zetan: f64,
    alpha: f64,
    eta: f64,
}

impl Zipf {
    fn new(n: u64) -> Zipf {
        let theta = 0.99;
        let zetan: f64 = (1..=n).map(|i| 1.0 / (i as f64).powf(theta)).sum();
        let zeta2 = 1.0 + 0.5f64.powf(theta);
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Zipf { n, theta, zetan, alpha, eta }
    }
    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        let uz = u * self.zetan;
        let rank = if uz < 1.0 {
            0
        } else if uz < 1.0 + 0.5f64.powf(self.theta) {
            1
        } else {
            ((self.n as f64) * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64
        };
        // FNV-1a of the rank scatters the hot keys over the table.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in rank.to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        h % self.n
    }
}

fn key(n: u64) -> Json {
    json!({"pk": {"S": format!("p{}", n / PER_PARTITION)}, "sk": {"N": (n % PER_PARTITION).to_string()}})
}

const WORDS: [&str; 16] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima",
    "mike", "november", "oscar", "papa",
];

/// Item `n` with its value of `kind`.
fn item(n: u64, kind: Kind, rng: &mut Rng) -> Json {
    let mut it = key(n);
    match kind {
        Kind::Json => {
            // A document as apps store them: repeated field names, words from
            // a small vocabulary, numbers, an email, a date.
            let mut doc = format!(
                "{{\"id\":{n},\"name\":\"user {n}\",\"email\":\"user{n}@example.com\",\"created\":\"2026-{:02}-{:02}T{:02}:00:00Z\",\"status\":\"{}\",\"score\":{},\"events\":[",
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                WORDS[rng.below(4) as usize],
                rng.below(100_000)
            );
            while doc.len() < VALUE_BYTES - 60 {
                doc.push_str(&format!(
                    "{{\"type\":\"{}\",\"at\":{},\"ok\":{}}},",
                    WORDS[rng.below(16) as usize],
                    1_700_000_000 + rng.below(100_000_000),
                    rng.below(2) == 0
                ));
            }
            doc.pop();
            doc.push_str("]}");
            while doc.len() < VALUE_BYTES {
                doc.push(' ');
            }
            doc.truncate(VALUE_BYTES);
            it["data"] = json!({"S": doc});
        }
        Kind::Random => {
            let mut bytes = vec![0u8; VALUE_BYTES];
            for chunk in bytes.chunks_mut(8) {
                let r = rng.next().to_le_bytes();
                chunk.copy_from_slice(&r[..chunk.len()]);
            }
            it["data"] = json!({"B": base64::engine::general_purpose::STANDARD.encode(&bytes)});
        }
    }
    it
}

/// DynamoDB's size of item `n`: attribute names plus values (a number is one
/// byte plus one per two significant digits).
fn ddb_size(n: u64) -> u64 {
    let pk = format!("p{}", n / PER_PARTITION).len() as u64;
    2 + pk + 2 + 2 + 4 + VALUE_BYTES as u64
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<Box<dyn Duplex>>,
    host: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> std::io::Result<Conn> {
        let s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let tls = TLS.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let stream: Box<dyn Duplex> = match tls {
            None => Box::new(s),
            Some(config) => {
                let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
                Box::new(tokio_rustls::TlsConnector::from(config).connect(name, s).await?)
            }
        };
        Ok(Conn { stream: BufReader::new(stream), host: addr.to_string() })
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        target: Option<&str>,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n", self.host, body.len());
        match target {
            Some(t) => head.push_str(&format!("Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: {t}\r\n")),
            None => head.push_str("Content-Type: application/json\r\n"),
        }
        if SIGN.load(Ordering::Relaxed) {
            // Signed as the SDKs sign: host, content type, target and date.
            let ct = if target.is_some() { "application/x-amz-json-1.0" } else { "application/json" };
            let mut signed = vec![("content-type", ct)];
            signed.extend(target.map(|t| ("x-amz-target", t)));
            let cred = tidepool::http::sigv4::Credential {
                user: String::new(),
                access_key_id: BENCH_KEY.into(),
                secret_access_key: BENCH_SECRET.into(),
                session_token: None,
            };
            for (k, v) in
                tidepool::http::auth::sign_request(&cred, "us-east-1", method, &self.host, path, &signed, body)
            {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
        } else {
            head.push_str(
                "Authorization: AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0\r\nX-Amz-Date: 20260101T000000Z\r\n\r\n",
            );
        }
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        // TLS holds written records until flushed.
        s.flush().await?;
        let mut status = String::new();
        if self.stream.read_line(&mut status).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        let code = status.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf).await?;
        Ok((code, buf))
    }

    async fn ddb(&mut self, op: &str, body: &Json) -> std::io::Result<(u16, Vec<u8>)> {
        self.request("POST", "/", Some(&format!("DynamoDB_20120810.{op}")), body.to_string().as_bytes()).await
    }

    async fn ddb_ok(&mut self, op: &str, body: &Json) -> Json {
        let (code, body) = self.ddb(op, body).await.unwrap_or_else(|e| panic!("{op}: {e}"));
        assert_eq!(code, 200, "{op}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap_or(Json::Null)
    }

    /// A Lambda REST call on a connection of its own (a GET has no body).
    async fn lambda(&mut self, method: &str, path: &str, body: &Json) -> Json {
        let addr: SocketAddr = self.host.parse().expect("an address");
        let mut c = Conn::open(addr).await.expect("connect");
        let body = if method == "GET" { String::new() } else { body.to_string() };
        let (code, out) = c.request(method, path, None, body.as_bytes()).await.expect(path);
        assert!((200..300).contains(&code), "{method} {path}: {code} {}", String::from_utf8_lossy(&out));
        serde_json::from_slice(&out).unwrap_or(Json::Null)
    }
}

/// The server under test, as a child process.
struct Server {
    cmd: Vec<String>,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    tidepool: bool,
    /// `--tls on`: the server makes its CA in `dir/tls`.
    tls: bool,
}

impl Server {
    fn new(dir: &Path, opts: &Opts) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let (cmd, tidepool) = match &opts.peer {
            Some(c) => (
                c.replace("{port}", &port.to_string())
                    .replace("{dir}", &dir.display().to_string())
                    .split_whitespace()
                    .map(String::from)
                    .collect(),
                false,
            ),
            None => {
                let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tidepool.toml");
                let mut auth = Vec::new();
                if opts.auth == Auth::On {
                    let file = std::env::temp_dir().join(format!("tidepool-scale-auth-{}.toml", std::process::id()));
                    let text = format!(
                        "[[users]]\nname = \"bench\"\naccess_key_id = \"{BENCH_KEY}\"\nsecret_access_key = \"{BENCH_SECRET}\"\n"
                    );
                    std::fs::write(&file, text).expect("write the auth file");
                    auth = vec!["--auth".to_string(), file.display().to_string()];
                }
                if opts.tls {
                    auth.extend(["--tls".to_string(), "self-signed".to_string()]);
                }
                if opts.encryption {
                    let key = dir.with_extension("key");
                    std::fs::write(&key, [7u8; 32]).expect("write the bench's key");
                    auth.extend(["--encryption-key".to_string(), key.display().to_string()]);
                }
                (
                    vec![
                        // SCALE_TIDEPOOL_BIN: another build, for an A/B run.
                        std::env::var("SCALE_TIDEPOOL_BIN")
                            .ok()
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| env!("CARGO_BIN_EXE_tidepool").to_string()),
                        "serve".into(),
                        "--port".into(),
                        port.to_string(),
                        "--data-dir".into(),
                        dir.display().to_string(),
                        "--cache-mb".into(),
                        opts.cache_mb.to_string(),
                        "--manifest".into(),
                        manifest.display().to_string(),
                    ]
                    .into_iter()
                    .chain(auth)
                    .collect(),
                    true,
                )
            }
        };
        Server { cmd, dir: dir.to_path_buf(), port, child: None, tidepool, tls: tidepool && opts.tls }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts the server; returns the time until it answers ListTables and
    /// a GetItem.
    async fn start(&mut self) -> Duration {
        let t0 = Instant::now();
        let child = Command::new(&self.cmd[0])
            .args(&self.cmd[1..])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server");
        self.child = Some(child);
        loop {
            let ca = self.dir.join("tls/ca.pem");
            if self.tls && ca.is_file() {
                let config = tidepool::http::tls::client_config(&[ca]).expect("trust the server's CA");
                *TLS.lock().unwrap_or_else(|p| p.into_inner()) = Some(config);
            }
            if let Ok(mut c) = Conn::open(self.addr()).await
                && let Ok((200, _)) = c.ddb("ListTables", &json!({})).await
            {
                let _ = c.ddb("GetItem", &json!({"TableName": TABLE, "Key": key(0)})).await;
                return t0.elapsed();
            }
            assert!(t0.elapsed() < Duration::from_secs(600), "the server did not start");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGTERM and wait: the clean stop.
    fn stop(&mut self) -> Duration {
        let t0 = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let _ = self.child.take().expect("running").wait();
        t0.elapsed()
    }

    fn kill9(&mut self) {
        let mut c = self.child.take().expect("running");
        let _ = c.kill();
        let _ = c.wait();
    }

    /// (RSS, peak RSS) in MB.
    fn rss(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Bytes allocated on disk, without the compiled handlers.
    fn disk(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            use std::os::unix::fs::MetadataExt;
            let mut sum = 0;
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                let Ok(md) = e.metadata() else { continue };
                if md.is_dir() {
                    if e.file_name() != "lambda" {
                        sum += walk(&e.path());
                    }
                } else {
                    sum += md.blocks() * 512;
                }
            }
            sum
        }
        walk(&self.dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// The second client: one GetItem of a random loaded item every 5 ms until
/// stopped, on a thread and runtime of its own (so the load client's queue
/// is not in its latencies); returns the latencies (a failed request counts
/// as 10 s).
fn sampler(addr: SocketAddr, items: u64) -> (Arc<AtomicBool>, tokio::task::JoinHandle<Vec<Duration>>) {
    sampler_of(addr, items, false)
}

/// [`sampler`], with PutItem of fresh keys instead of GetItem when `put`.
fn sampler_of(addr: SocketAddr, items: u64, put: bool) -> (Arc<AtomicBool>, tokio::task::JoinHandle<Vec<Duration>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let task = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("sampler runtime");
        rt.block_on(sample(addr, items, s2, put))
    });
    (stop, task)
}

async fn sample(addr: SocketAddr, items: u64, s2: Arc<AtomicBool>, put: bool) -> Vec<Duration> {
    let mut rng = Rng(0x5eed_5eed);
    let mut lat = Vec::new();
    let mut conn = Conn::open(addr).await.ok();
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    // Fresh keys of its own, past the load clients'.
    let mut fresh = 1u64 << 50;
    while !s2.load(Ordering::Relaxed) {
        tick.tick().await;
        let t = Instant::now();
        let (op, body) = if put {
            fresh += 1;
            ("PutItem", json!({"TableName": TABLE, "Item": item(fresh, Kind::Json, &mut rng)}))
        } else {
            ("GetItem", json!({"TableName": TABLE, "Key": key(rng.below(items))}))
        };
        let ok = match conn.as_mut() {
            Some(c) => matches!(c.ddb(op, &body).await, Ok((200, _))),
            None => false,
        };
        if ok {
            lat.push(t.elapsed());
        } else {
            lat.push(Duration::from_secs(10));
            conn = Conn::open(addr).await.ok();
        }
    }
    lat
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Op {
    Put,
    GetUniform,
    GetZipf,
    Query,
    Update,
    /// Backups and point-in-time recovery (see the module doc).
    Recovery,
}

struct Measured {
    rate: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
    second_p99: Duration,
}

/// Runs `op` from `conns` connections for `secs`, with the second client.
async fn measure(addr: SocketAddr, op: Op, items: u64, secs: u64, conns: usize, fresh: Arc<AtomicU64>) -> Measured {
    let zipf = Arc::new(if matches!(op, Op::GetZipf) { Some(Zipf::new(items)) } else { None });
    let (stop, second) = sampler(addr, items);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conns)
        .map(|t| {
            let (zipf, fresh) = (zipf.clone(), fresh.clone());
            tokio::spawn(async move {
                let mut rng = Rng(0x1234_5678 + t as u64 * 7919);
                let Ok(mut c) = Conn::open(addr).await else { return (Vec::new(), 1) };
                let (mut lat, mut errors) = (Vec::new(), 0u64);
                while Instant::now() < deadline {
                    let (name, body) = match op {
                        Op::Put => {
                            let n = fresh.fetch_add(1, Ordering::Relaxed);
                            ("PutItem", json!({"TableName": TABLE, "Item": item(n, Kind::Json, &mut rng)}))
                        }
                        Op::GetUniform => ("GetItem", json!({"TableName": TABLE, "Key": key(rng.below(items))})),
                        Op::GetZipf => {
                            let n = zipf.as_ref().as_ref().expect("zipf").sample(&mut rng);
                            ("GetItem", json!({"TableName": TABLE, "Key": key(n)}))
                        }
                        Op::Query => (
                            "Query",
                            json!({"TableName": TABLE, "KeyConditionExpression": "pk = :p",
                                "ExpressionAttributeValues": {":p": {"S": format!("p{}", rng.below(items / PER_PARTITION))}}}),
                        ),
                        Op::Recovery => unreachable!("recovery is not a request loop"),
                        Op::Update => (
                            "UpdateItem",
                            json!({"TableName": TABLE, "Key": key(rng.below(items)), "UpdateExpression": "ADD hits :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}),
                        ),
                    };
                    let t0 = Instant::now();
                    match c.ddb(name, &body).await {
                        Ok((200, _)) => lat.push(t0.elapsed()),
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            // The kill -9 phase stops the server under this load.
                            match Conn::open(addr).await {
                                Ok(fresh) => c = fresh,
                                Err(_) => break,
                            }
                        }
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("client");
        all.extend(l);
        errors += e;
    }
    stop.store(true, Ordering::Relaxed);
    let mut second = second.await.expect("second client");
    all.sort();
    second.sort();
    Measured {
        rate: all.len() as f64 / secs as f64,
        p50: pct(&all, 0.5),
        p99: pct(&all, 0.99),
        errors,
        second_p99: pct(&second, 0.99),
    }
}

/// Loads items `from..to` with BatchWriteItem; returns items/s.
async fn load(addr: SocketAddr, from: u64, to: u64, kind: Kind, conns: usize) -> f64 {
    let next = Arc::new(AtomicU64::new(from));
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|t| {
            let next = next.clone();
            tokio::spawn(async move {
                let mut rng = Rng(0xfeed_0000 + t as u64 * 104_729);
                let mut c = Conn::open(addr).await.expect("connect");
                loop {
                    let start = next.fetch_add(BATCH, Ordering::Relaxed);
                    if start >= to {
                        return;
                    }
                    let end = (start + BATCH).min(to);
                    let mut reqs: Vec<Json> =
                        (start..end).map(|n| json!({"PutRequest": {"Item": item(n, kind, &mut rng)}})).collect();
                    let mut tries = 0;
                    while !reqs.is_empty() {
                        let body = json!({"RequestItems": {TABLE: reqs}});
                        match c.ddb("BatchWriteItem", &body).await {
                            Ok((200, out)) => {
                                let out: Json = serde_json::from_slice(&out).unwrap_or(Json::Null);
                                reqs = out["UnprocessedItems"][TABLE].as_array().cloned().unwrap_or_default();
                            }
                            Ok((code, out)) => {
                                tries += 1;
                                assert!(tries < 100, "BatchWriteItem: {code} {}", String::from_utf8_lossy(&out));
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                            Err(_) => {
                                tries += 1;
                                assert!(tries < 100, "BatchWriteItem: connection errors");
                                c = Conn::open(addr).await.expect("reconnect");
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("loader");
    }
    (to - from) as f64 / t0.elapsed().as_secs_f64()
}

/// Scan from the start with 1 MB pages for `secs`; MB/s of responses.
async fn scan(addr: SocketAddr, secs: u64) -> f64 {
    let mut c = Conn::open(addr).await.expect("connect");
    let t0 = Instant::now();
    let mut bytes = 0usize;
    let mut start: Option<Json> = None;
    while t0.elapsed() < Duration::from_secs(secs) {
        let mut body = json!({"TableName": TABLE});
        if let Some(k) = start.take() {
            body["ExclusiveStartKey"] = k;
        }
        let (code, out) = c.ddb("Scan", &body).await.expect("scan");
        assert_eq!(code, 200, "Scan: {}", String::from_utf8_lossy(&out));
        bytes += out.len();
        let out: Json = serde_json::from_slice(&out).expect("scan JSON");
        start = out.get("LastEvaluatedKey").cloned();
    }
    bytes as f64 / t0.elapsed().as_secs_f64() / 1e6
}

/// Tidepool's trigger: the example app's `leaderboard` mapping on `Scores`
/// is disabled, a backlog of records is written, and the mapping enabled;
/// returns records per second until the handler has applied all of them.
async fn trigger_drain(addr: SocketAddr, round: usize) -> f64 {
    let mut c = Conn::open(addr).await.expect("connect");
    let maps = c.lambda("GET", "/2015-03-31/event-source-mappings/?FunctionName=leaderboard", &json!({})).await;
    let uuid = maps["EventSourceMappings"][0]["UUID"].as_str().expect("the leaderboard mapping").to_string();
    let path = format!("/2015-03-31/event-source-mappings/{uuid}");
    c.lambda("PUT", &path, &json!({"Enabled": false})).await;
    while c.lambda("GET", &path, &json!({})).await["State"] != "Disabled" {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let games = 100;
    for start in (0..BACKLOG).step_by(BATCH as usize) {
        let reqs: Vec<Json> = (start..start + BATCH)
            .map(|i| {
                json!({"PutRequest": {"Item": {"player": {"S": format!("b{round}-{i}")},
                "game": {"S": format!("g{round}-{}", i % games)}, "score": {"N": "1"}}}})
            })
            .collect();
        c.ddb_ok("BatchWriteItem", &json!({"RequestItems": {"Scores": reqs}})).await;
    }
    let t0 = Instant::now();
    c.lambda("PUT", &path, &json!({"Enabled": true})).await;
    loop {
        let out = c
            .ddb_ok(
                "Scan",
                &json!({"TableName": "Leaderboard", "FilterExpression": "begins_with(game, :g)",
                "ExpressionAttributeValues": {":g": {"S": format!("g{round}-")}}}),
            )
            .await;
        let total: u64 = out["Items"]
            .as_array()
            .map(|items| {
                items.iter().filter_map(|i| i["total"]["N"].as_str().and_then(|n| n.parse::<u64>().ok())).sum()
            })
            .unwrap_or(0);
        if total >= BACKLOG {
            return BACKLOG as f64 / t0.elapsed().as_secs_f64();
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "the trigger did not drain its backlog: {total}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls `op` on `body` until `done` says so; the time it took.
async fn until(c: &mut Conn, t0: Instant, op: &str, body: &Json, done: impl Fn(&Json) -> bool) -> Duration {
    loop {
        let out = c.ddb_ok(op, body).await;
        if done(&out) {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(1800), "{op} never finished: {out}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `recovery` phase at `size` items (module doc); prints its rows.
async fn recovery(server: &Server, size: u64, opts: &Opts, fresh: Arc<AtomicU64>) {
    let addr = server.addr();
    let mut c = Conn::open(addr).await.expect("connect");
    let sample_for = |secs: u64| async move {
        let (stop, second) = sampler_of(addr, size, true);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        let mut l = second.await.expect("second client");
        l.sort();
        pct(&l, 0.99)
    };
    let count = |out: Json| out["Table"]["ItemCount"].as_u64().unwrap_or(0);
    println!(
        "| (the table now holds {} items) | | | | | | peak RSS {:.0} MB",
        count(c.ddb_ok("DescribeTable", &json!({"TableName": TABLE})).await),
        server.rss().1
    );
    let idle_p99 = sample_for(5).await;
    let (stop, second) = sampler_of(addr, size, true);
    let t0 = Instant::now();
    let out = c.ddb_ok("CreateBackup", &json!({"TableName": TABLE, "BackupName": format!("bench-{size}")})).await;
    let arn = out["BackupDetails"]["BackupArn"].as_str().expect("a backup ARN").to_string();
    let took = until(&mut c, t0, "DescribeBackup", &json!({"BackupArn": arn}), |o| {
        o["BackupDescription"]["BackupDetails"]["BackupStatus"] == "AVAILABLE"
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut during = second.await.expect("second client");
    during.sort();
    println!(
        "| CreateBackup until AVAILABLE | {} | | | | PutItem p99 {} (idle {}) | peak RSS {:.0} MB",
        ms(took),
        ms(pct(&during, 0.99)),
        ms(idle_p99),
        server.rss().1
    );
    let t0 = Instant::now();
    let target = format!("{TABLE}-restored");
    c.ddb_ok("RestoreTableFromBackup", &json!({"TargetTableName": target, "BackupArn": arn})).await;
    let took =
        until(&mut c, t0, "DescribeTable", &json!({"TableName": target}), |o| o["Table"]["TableStatus"] == "ACTIVE")
            .await;
    println!("| RestoreTableFromBackup until ACTIVE | {} | | | | | peak RSS {:.0} MB", ms(took), server.rss().1);
    c.ddb_ok("DeleteTable", &json!({"TableName": target})).await;
    c.ddb_ok("DeleteBackup", &json!({"BackupArn": arn})).await;

    // PutItem without and then with PITR, each with the disk it adds.
    let put_phase = |label: &'static str| {
        let fresh = fresh.clone();
        async move {
            let (disk0, n0) = (server.disk(), fresh.load(Ordering::Relaxed));
            let m = measure(addr, Op::Put, size, opts.secs, opts.conns, fresh.clone()).await;
            let writes = fresh.load(Ordering::Relaxed) - n0;
            let per_write = server.disk().saturating_sub(disk0) as f64 / writes.max(1) as f64;
            println!(
                "| PutItem (new keys), {label} | {:.0} | {} | {} | {} | {} |",
                m.rate,
                ms(m.p50),
                ms(m.p99),
                m.errors,
                ms(m.second_p99)
            );
            let u = measure(addr, Op::Update, size, opts.secs, opts.conns, fresh.clone()).await;
            println!(
                "| UpdateItem (ADD), {label} | {:.0} | {} | {} | {} | {} |",
                u.rate,
                ms(u.p50),
                ms(u.p99),
                u.errors,
                ms(u.second_p99)
            );
            (m.rate, u.rate, per_write)
        }
    };
    // Off, on, on, off (ABBA): each state runs once first and once after
    // the other, so the compaction debt one phase leaves the next (an
    // UpdateItem phase rewrites items all over the table) weighs on both
    // states alike.
    let mut plain = Vec::new();
    let mut pitr = Vec::new();
    for (i, on) in [false, true, true, false].into_iter().enumerate() {
        if i == 1 || i == 3 {
            let t0 = Instant::now();
            c.ddb_ok(
                "UpdateContinuousBackups",
                &json!({"TableName": TABLE, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": on}}),
            )
            .await;
            let want = if on { "ENABLED" } else { "DISABLED" };
            let took = until(&mut c, t0, "DescribeContinuousBackups", &json!({"TableName": TABLE}), |o| {
                o["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == want
            })
            .await;
            println!(
                "| UpdateContinuousBackups until {want} | {} | | | | | peak RSS {:.0} MB",
                ms(took),
                server.rss().1
            );
        }
        let m = put_phase(if on { "PITR on" } else { "PITR off" }).await;
        if on { pitr.push(m) } else { plain.push(m) }
    }
    let mean = |v: &[(f64, f64, f64)]| {
        let n = v.len().max(1) as f64;
        (
            v.iter().map(|m| m.0).sum::<f64>() / n,
            v.iter().map(|m| m.1).sum::<f64>() / n,
            v.iter().map(|m| m.2).sum::<f64>() / n,
        )
    };
    let (plain_rate, plain_update, plain_disk) = mean(&plain);
    let (pitr_rate, pitr_update, pitr_disk) = mean(&pitr);
    c.ddb_ok(
        "UpdateContinuousBackups",
        &json!({"TableName": TABLE, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": true}}),
    )
    .await;
    // Disk grows by the items, their versions and the journal alike; the
    // difference per write is what the history adds (a rough figure: the
    // data directory is measured while compaction runs).
    let version = (pitr_disk - plain_disk).max(0.0);
    println!(
        "- PITR on: PutItem at {:.0} %, UpdateItem at {:.0} % of their rates with PITR off; disk per PutItem {:.0} bytes against {:.0}: \
         about {:.0} bytes of history a write, {:.0} GB a day at 1,000 writes/s",
        100.0 * pitr_rate / plain_rate.max(1.0),
        100.0 * pitr_update / plain_update.max(1.0),
        pitr_disk,
        plain_disk,
        version,
        version * 86_400.0 * 1000.0 / 1e9
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    println!(
        "| (the table now holds {} items) | | | | | |",
        count(c.ddb_ok("DescribeTable", &json!({"TableName": TABLE})).await)
    );
    let t0 = Instant::now();
    let target = format!("{TABLE}-pitr");
    c.ddb_ok(
        "RestoreTableToPointInTime",
        &json!({"SourceTableName": TABLE, "TargetTableName": target, "UseLatestRestorableTime": true}),
    )
    .await;
    let took =
        until(&mut c, t0, "DescribeTable", &json!({"TableName": target}), |o| o["Table"]["TableStatus"] == "ACTIVE")
            .await;
    println!(
        "| RestoreTableToPointInTime (latest) until ACTIVE | {} | | | | | peak RSS {:.0} MB",
        ms(took),
        server.rss().1
    );
    c.ddb_ok("DeleteTable", &json!({"TableName": target})).await;

    // Export (DynamoDB JSON, gzip) and import it back.
    let arn = c.ddb_ok("DescribeTable", &json!({"TableName": TABLE})).await["Table"]["TableArn"].clone();
    // The bucket first: an export to a missing one fails, as on AWS.
    std::fs::create_dir_all(server.dir.join("s3/bench")).expect("the export's bucket");
    let t0 = Instant::now();
    let out = c.ddb_ok("ExportTableToPointInTime", &json!({"TableArn": arn, "S3Bucket": "bench"})).await;
    let export_arn = out["ExportDescription"]["ExportArn"].as_str().expect("an export ARN").to_string();
    let took = until(&mut c, t0, "DescribeExport", &json!({"ExportArn": export_arn}), |o| {
        o["ExportDescription"]["ExportStatus"] != "IN_PROGRESS"
    })
    .await;
    let d = c.ddb_ok("DescribeExport", &json!({"ExportArn": export_arn})).await;
    let exported = d["ExportDescription"]["ItemCount"].as_u64().unwrap_or(0);
    println!(
        "| ExportTableToPointInTime until COMPLETED | {} ({:.0} items/s, {} items) | | | | | peak RSS {:.0} MB",
        ms(took),
        exported as f64 / took.as_secs_f64(),
        exported,
        server.rss().1
    );
    let id = export_arn.rsplit('/').next().unwrap_or_default().to_string();
    let t0 = Instant::now();
    let target = format!("{TABLE}-imported");
    let out = c
        .ddb_ok(
            "ImportTable",
            &json!({"S3BucketSource": {"S3Bucket": "bench", "S3KeyPrefix": format!("AWSDynamoDB/{id}/data/")},
                "InputFormat": "DYNAMODB_JSON", "InputCompressionType": "GZIP",
                "TableCreationParameters": {"TableName": target,
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
                    "BillingMode": "PAY_PER_REQUEST"}}),
        )
        .await;
    let import_arn = out["ImportTableDescription"]["ImportArn"].as_str().expect("an import ARN").to_string();
    let took = until(&mut c, t0, "DescribeImport", &json!({"ImportArn": import_arn}), |o| {
        o["ImportTableDescription"]["ImportStatus"] != "IN_PROGRESS"
    })
    .await;
    let d = c.ddb_ok("DescribeImport", &json!({"ImportArn": import_arn})).await;
    let imported = d["ImportTableDescription"]["ImportedItemCount"].as_u64().unwrap_or(0);
    println!(
        "| ImportTable of that export until COMPLETED | {} ({:.0} items/s, {} items) | | | | | peak RSS {:.0} MB",
        ms(took),
        imported as f64 / took.as_secs_f64(),
        imported,
        server.rss().1
    );
    c.ddb_ok("DeleteTable", &json!({"TableName": target})).await;
    c.ddb_ok(
        "UpdateContinuousBackups",
        &json!({"TableName": TABLE, "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": false}}),
    )
    .await;
}

async fn run_kind(opts: &Opts, kind: Kind, sustain: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::new(dir.path(), opts);
    let ready = server.start().await;
    let addr = server.addr();
    println!("\n## {kind:?} values, {}: started in {}", if server.tidepool { "tidepool" } else { "peer" }, ms(ready));
    let mut c = Conn::open(addr).await.expect("connect");
    c.ddb_ok(
        "CreateTable",
        &json!({"TableName": TABLE,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingMode": "PAY_PER_REQUEST"}),
    )
    .await;
    drop(c);
    // New items of the Put phases get numbers past every size loaded.
    let fresh = Arc::new(AtomicU64::new(1 << 40));
    let mut loaded = 0;
    let mut ddb_bytes: u64 = 0;
    for (round, &size) in opts.sizes.iter().enumerate() {
        let rate = load(addr, loaded, size, kind, opts.conns).await;
        ddb_bytes += (loaded..size).map(ddb_size).sum::<u64>();
        loaded = size;
        println!("\n### {size} items ({kind:?}): loaded at {rate:.0} items/s (BatchWriteItem)");
        println!("| phase | ops/s | p50 | p99 | errors | second client p99 |");
        println!("|---|---|---|---|---|---|");
        for &op in &opts.phases {
            if op == Op::Recovery {
                if server.tidepool {
                    recovery(&server, size, opts, fresh.clone()).await;
                }
                continue;
            }
            let name = match op {
                Op::Recovery => unreachable!(),
                Op::Put => "PutItem (new keys)",
                Op::GetUniform => "GetItem, uniform",
                Op::GetZipf => "GetItem, Zipf 0.99",
                Op::Query => "Query (10 items)",
                Op::Update => "UpdateItem (ADD)",
            };
            let m = measure(addr, op, size, opts.secs, opts.conns, fresh.clone()).await;
            println!(
                "| {name} | {:.0} | {} | {} | {} | {} |",
                m.rate,
                ms(m.p50),
                ms(m.p99),
                m.errors,
                ms(m.second_p99)
            );
        }
        let put_items = fresh.load(Ordering::Relaxed) - (1 << 40);
        let all_bytes = ddb_bytes + put_items * (ddb_size(1 << 40) + 4);
        println!("| Scan | {:.1} MB/s | | | | |", scan(addr, opts.secs).await);
        if server.tidepool {
            println!(
                "| trigger draining {BACKLOG} records | {:.0} records/s | | | | |",
                trigger_drain(addr, round).await
            );
        }
        let (rss, peak) = server.rss();
        println!("- RSS {rss:.0} MB (peak {peak:.0} MB)");
        if opts.hold_secs > 0 {
            use std::io::Write;
            println!("HOLD port={} items={size}", server.port);
            let _ = std::io::stdout().flush();
            tokio::time::sleep(Duration::from_secs(opts.hold_secs)).await;
        }
        let stop = server.stop();
        let disk = server.disk();
        println!(
            "- clean stop {}; disk {:.1} MB for {:.1} MB of DynamoDB item size: {:.2} bytes per item byte",
            ms(stop),
            disk as f64 / 1e6,
            all_bytes as f64 / 1e6,
            disk as f64 / all_bytes as f64
        );
        println!("- restart after a clean stop: ready in {}", ms(server.start().await));
        if server.tidepool {
            // kill -9 in the middle of a PutItem load.
            let loader = tokio::spawn(measure(addr, Op::Put, size, 3, opts.conns, fresh.clone()));
            tokio::time::sleep(Duration::from_millis(2500)).await;
            server.kill9();
            let _ = loader.await;
            println!("- restart after kill -9 under PutItem load: ready in {}", ms(server.start().await));
        }
    }
    if sustain && opts.sustain_secs > 0 {
        println!("\n### Sustained PutItem ({kind:?} values, {} s, {} connections)", opts.sustain_secs, opts.conns);
        println!("| minute | PutItem/s | p99 | errors | second client p99 |");
        println!("|---|---|---|---|---|");
        let mut left = opts.sustain_secs;
        let mut minute = 1;
        while left > 0 {
            let secs = left.min(60);
            let m = measure(addr, Op::Put, loaded, secs, opts.conns, fresh.clone()).await;
            println!("| {minute} | {:.0} | {} | {} | {} |", m.rate, ms(m.p99), m.errors, ms(m.second_p99));
            left -= secs;
            minute += 1;
        }
        let (rss, peak) = server.rss();
        println!("- RSS {rss:.0} MB (peak {peak:.0} MB)");
    }
}

fn main() {
    let opts = parse_opts();
    SIGN.store(opts.auth != Auth::Off, Ordering::Relaxed);
    println!(
        "scale benchmark: sizes {:?}, values {:?}, {} s per phase, {} connections, cache {} MiB, auth {:?}, tls {}, encryption {}{}",
        opts.sizes,
        opts.kinds,
        opts.secs,
        opts.conns,
        opts.cache_mb,
        opts.auth,
        if opts.tls { "on" } else { "off" },
        if opts.encryption { "on" } else { "off" },
        opts.peer.as_deref().map(|p| format!(", peer `{p}`")).unwrap_or_default()
    );
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    rt.block_on(async {
        for (i, &kind) in opts.kinds.iter().enumerate() {
            run_kind(&opts, kind, i == 0).await;
        }
    });
}
