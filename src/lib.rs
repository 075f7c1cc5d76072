//! Tidepool: DynamoDB, DynamoDB Streams and Lambda in one binary.
//!
//! This crate is the wiring: the wire protocols on axum, configuration and
//! the server's lifecycle. [`start`] runs a server in-process and returns
//! its bound address, which is how the end-to-end tests embed it.

pub mod autoscaling;
pub mod bridge;
pub mod build;
pub mod capacity;
pub mod console;
pub mod cost;
pub mod dynamodb;
pub mod global_tables;
pub mod http;
pub mod iam;
pub mod insights;
pub mod lambda;
pub mod metrics;
pub mod recovery;
pub mod s3;
pub mod scaffold;
pub mod streams;
pub mod trace;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tidepool_store::{Durability, Store, StoreConfig, StreamConfig};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How to run a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Data directory; `None` keeps data in a temporary directory removed at exit.
    pub data_dir: Option<PathBuf>,
    /// Region used in ARNs.
    pub region: String,
    pub durability: Durability,
    /// Shards per stream, shard rollover, record retention, and whether
    /// replicated writes' records are marked (`--mark-replicated-writes`).
    pub streams: StreamConfig,
    /// How often the TTL sweeper runs.
    pub ttl_interval: Duration,
    /// How long a stream shard iterator stays valid (AWS: 15 minutes).
    /// Tests shorten it.
    pub iterator_lifetime: Duration,
    /// A manifest (tables, functions, mappings) to apply at start.
    pub manifest: Option<PathBuf>,
    /// The store's block cache in bytes (0: [`tidepool_store::DEFAULT_CACHE_BYTES`]).
    pub cache_bytes: u64,
    /// Client connections: how many, and the header, idle, body and write
    /// timeouts ([`http::HttpLimits`]).
    pub http: http::HttpLimits,
    /// Guest memory (MB) the running invocations may reserve together
    /// (0: [`tidepool_runtime::limits::DEFAULT_MAX_GUEST_MEMORY_MB`]).
    pub guest_memory_mb: u32,
    /// Where exports go and imports come from: a directory per "S3
    /// bucket" (`None`: `s3` under the data directory).
    pub s3_dir: Option<PathBuf>,
    /// Authentication (`--auth`): `None` accepts any credentials.
    pub auth: Option<Arc<http::auth::Auth>>,
    /// HTTPS (`--tls-cert`/`--tls-key`, `--tls self-signed`): `None` serves
    /// plain HTTP.
    pub tls: Option<Arc<http::tls::Tls>>,
    /// Encryption at rest (`--encryption-key`): `None` stores values plain.
    pub encryption: Option<tidepool_store::cipher::EncryptionKey>,
    /// Whether tables' throughput limits are enforced or only reported
    /// (`--capacity`); a manifest table may set its own.
    pub capacity: capacity::Mode,
    /// The cost meter's price table (`--prices`; `None`: the shipped one).
    pub prices: Option<cost::Prices>,
    /// Peer regions' endpoints for global tables (`--peers`): region name
    /// to `http://host:port`.
    pub peers: std::collections::BTreeMap<String, String>,
    /// Another engine whose streams the mappings read (`--source`,
    /// `tidepool workers`): `http://host:port`. `None`: this server's own.
    pub stream_source: Option<String>,
    /// The lease table in the stream source (`--lease-table`).
    pub lease_table: String,
    /// How long a worker's lease lasts unrenewed (`--lease-duration`): about
    /// the failover time when a worker dies. With a `stream_source`, 3 s to
    /// an hour ([`start`] refuses others).
    pub lease_duration: Duration,
    /// How long a table's resource policy or deletion protection stays as
    /// changed before another change is taken
    /// ([`dynamodb::SETTING_COOLDOWN`], `--setting-cooldown-ms`).
    pub setting_cooldown: Duration,
    /// How long a table's Time to Live stays as changed before another
    /// UpdateTimeToLive is taken ([`dynamodb::TTL_COOLDOWN`],
    /// `--ttl-cooldown-secs`).
    pub ttl_cooldown: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: None,
            region: "us-east-1".into(),
            durability: Durability::default(),
            streams: StreamConfig::default(),
            ttl_interval: tidepool_store::DEFAULT_TTL_INTERVAL,
            iterator_lifetime: streams::ITERATOR_LIFETIME,
            manifest: None,
            cache_bytes: 0,
            http: http::HttpLimits::default(),
            guest_memory_mb: 0,
            s3_dir: None,
            auth: None,
            tls: None,
            encryption: None,
            capacity: capacity::Mode::Report,
            prices: None,
            peers: Default::default(),
            stream_source: None,
            lease_table: tidepool_runtime::esm::LEASE_TABLE.to_string(),
            lease_duration: tidepool_runtime::esm::LEASE_DURATION,
            setting_cooldown: dynamodb::SETTING_COOLDOWN,
            ttl_cooldown: dynamodb::TTL_COOLDOWN,
        }
    }
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub store: Store,
    /// The server's state: the store, functions and mappings.
    pub app: Arc<dynamodb::App>,
    /// Whether the server speaks HTTPS.
    pub tls: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// `http://addr` (`https://` with TLS on), for an SDK's endpoint URL.
    /// With TLS on, an unspecified address (`0.0.0.0`) is given as
    /// `localhost`, a name the self-signed certificate covers.
    pub fn endpoint(&self) -> String {
        if self.tls {
            if self.addr.ip().is_unspecified() {
                return format!("https://localhost:{}", self.addr.port());
            }
            return format!("https://{}", self.addr);
        }
        format!("http://{}", self.addr)
    }

    /// Stops accepting, finishes in-flight requests, stops trigger delivery
    /// and closes the store.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.app.streams.stop_waits();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(lambda) = self.app.lambda.get() {
            lambda.schedules.shutdown().await;
            lambda.engine.shutdown().await;
        }
        self.task.await.context("join the server task")?.context("serve HTTP")?;
        // The cost meter's accruals up to the stop.
        let app = self.app.clone();
        let _ = tokio::task::spawn_blocking(move || app.meter.save(&app, cost::now_secs())).await;
        Ok(())
    }
}

/// The HTTP routes of every protocol the server speaks.
pub fn router(app: Arc<dynamodb::App>) -> Router {
    Router::new()
        // Any method: a POST is a DynamoDB call, anything else DynamoDB's 404
        // (method routing would add an `Allow` header DynamoDB never sends).
        .route("/", axum::routing::any(http::front::fallback))
        // DynamoDB ignores the path: a POST here is still one of its calls.
        .route("/metrics", axum::routing::get(metrics::serve).fallback(http::front::fallback))
        .route("/tidepool/cost", axum::routing::get(cost::serve))
        .route("/tidepool/insights", axum::routing::get(insights::serve))
        .route("/tidepool/history", axum::routing::get(metrics::history::serve))
        .route("/tidepool/trace", axum::routing::get(trace::serve))
        .merge(lambda::api::routes())
        .merge(global_tables::api::routes())
        .fallback(http::front::fallback)
        .layer(axum::middleware::from_fn_with_state(app.clone(), http::front::front))
        .with_state(app)
}

/// The endpoint handlers' SDKs are handed: the bound address, with a
/// loopback address for an unspecified one (`0.0.0.0` listens on every
/// interface but is no address to send to).
fn guest_endpoint(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// A worker's endpoints to its stream source (`--source`): one for the
/// feeds and the handlers' calls, one of the leases' own.
type SourceEndpoints = (tidepool_runtime::endpoint::Endpoint, tidepool_runtime::endpoint::Endpoint);

/// The endpoints of `config`'s stream source, if any. Refuses a URL that is
/// no endpoint and a lease duration out of bounds, before anything starts.
fn source_endpoints(config: &ServerConfig) -> anyhow::Result<Option<SourceEndpoints>> {
    use tidepool_runtime::esm::lease::{MAX_LEASE_DURATION, MIN_LEASE_DURATION};
    let Some(url) = &config.stream_source else { return Ok(None) };
    let endpoint =
        || tidepool_runtime::endpoint::Endpoint::new(url, &config.region).map_err(|e| anyhow::anyhow!("--source: {e}"));
    let (feeds, leases) = (endpoint()?, endpoint()?);
    let d = config.lease_duration;
    if !(MIN_LEASE_DURATION..=MAX_LEASE_DURATION).contains(&d) {
        anyhow::bail!(
            "--lease-duration: a lease lasts at least {} and at most {} seconds (got {})",
            MIN_LEASE_DURATION.as_secs(),
            MAX_LEASE_DURATION.as_secs(),
            d.as_secs_f64()
        );
    }
    Ok(Some((feeds, leases)))
}

/// Opens the store and starts serving; returns once the port is bound.
pub async fn start(config: ServerConfig) -> anyhow::Result<Server> {
    let source = source_endpoints(&config)?;
    let budget = http::DescriptorBudget::new(http::descriptor_limit(), config.http.max_connections);
    if budget.overcommitted() {
        tracing::warn!(
            ?budget,
            "the open-file limit is too low for the minimum connections and table files; raise `ulimit -n`"
        );
    } else {
        tracing::info!(
            open_files = budget.limit,
            connections = budget.connections,
            table_files = budget.table_files,
            "descriptor budget"
        );
    }
    let store_config = StoreConfig {
        path: config.data_dir.clone(),
        durability: config.durability,
        cache_bytes: config.cache_bytes,
        streams: config.streams,
        ttl_interval: Some(config.ttl_interval),
        max_cached_files: budget.table_files,
        encryption: config.encryption.clone(),
        region: config.region.clone(),
    };
    let store = tokio::task::spawn_blocking(move || Store::open(store_config))
        .await
        .context("join the store opener")?
        .context("open the store")?;
    let listener = TcpListener::bind(config.listen).await.with_context(|| format!("bind {}", config.listen))?;
    let addr = listener.local_addr().context("read the bound address")?;
    let mut app =
        dynamodb::App::new(store.clone(), config.region.clone(), config.durability, config.iterator_lifetime)?;
    app.streams.fit_waiters(budget.connections);
    if let Some(dir) = &config.s3_dir {
        app.s3_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    }
    // The directory of buckets exists from the start (empty): the buckets
    // in it are made by CreateBucket or by hand, as on S3.
    if let Err(e) = std::fs::create_dir_all(&app.s3_dir) {
        tracing::warn!(s3_dir = %app.s3_dir.display(), error = %e, "could not make the directory of S3 buckets");
    }
    s3::clear_staged(&app.s3_dir);
    app.auth = config.auth.clone();
    app.setting_cooldown = config.setting_cooldown;
    app.ttl_cooldown = config.ttl_cooldown;
    app.capacity = capacity::Limiter::new(&config.region, config.capacity, app.metrics.clone());
    if let Some(p) = &config.prices {
        app.prices = p.clone();
    }
    if config.encryption.is_some() && config.s3_dir.is_none() && config.data_dir.is_some() {
        tracing::warn!(
            s3_dir = %app.s3_dir.display(),
            "values are encrypted at rest, but exports are written plain (as S3 objects) into the data directory's \
             s3/: give --s3-dir a place of its own"
        );
    }
    if let Some(a) = &app.auth {
        tracing::info!(users = a.users(), "authentication on: requests must be signed (SigV4)");
    }
    app.global.set_credential(config.auth.as_ref().and_then(|a| a.peer_credential()));
    let _ = app.global.runtime.set(tokio::runtime::Handle::current());
    app.global.set_peers(&config.peers)?;
    let app = Arc::new(app);
    tokio::spawn(autoscaling::run(Arc::downgrade(&app)));
    tokio::spawn(global_tables::replicator::run(Arc::downgrade(&app)));
    insights::restore(&app);
    tokio::spawn(cost::meter::run(Arc::downgrade(&app)));
    tokio::spawn(metrics::history::run(Arc::downgrade(&app)));
    dynamodb::export::fail_interrupted(&app);
    dynamodb::import::fail_interrupted(&app);
    let weak = Arc::downgrade(&app);
    let (store2, region, guest_memory_mb) = (store.clone(), config.region.clone(), config.guest_memory_mb);
    let endpoint = Some(guest_endpoint(addr));
    let mut lambda =
        tokio::task::spawn_blocking(move || lambda::Lambda::open(weak, &store2, &region, guest_memory_mb, endpoint))
            .await
            .context("join the function loader")??;
    lambda.https = config.tls.is_some();
    if let (Some(url), Some((feeds, leases))) = (&config.stream_source, source) {
        tracing::info!(source = %url, "event source mappings read their streams from another engine");
        lambda.stream_source = Some(Arc::new(feeds));
        let worker = worker_id(&store)?;
        tracing::info!(worker = %worker, table = %config.lease_table, "shards are shared by leases");
        // An endpoint of the leases' own: renewals never wait behind feeds
        // or handlers' calls.
        lambda.leases = Some(tidepool_runtime::esm::LeaseOptions {
            endpoint: Arc::new(leases),
            table: config.lease_table.clone(),
            duration: config.lease_duration,
            worker,
        });
    }
    // Set once, here: `set` cannot fail.
    let _ = app.lambda.set(lambda);
    if let Some(l) = app.lambda.get() {
        l.start_mappings().await;
        l.start_schedules().await;
    }
    if let Some(path) = &config.manifest {
        let manifest = lambda::manifest::Manifest::load(path)?;
        let (app2, rt) = (app.clone(), tokio::runtime::Handle::current());
        let applied = tokio::task::spawn_blocking(move || lambda::manifest::apply(&app2, &manifest, &rt))
            .await
            .context("join the manifest")?
            .with_context(|| format!("apply manifest {}", path.display()))?;
        for change in &applied.changes {
            tracing::info!("manifest: {change}");
        }
    }
    // Asynchronous events the last run accepted and did not finish, run
    // once the functions the manifest declares are in place.
    if let Some(l) = app.lambda.get() {
        l.events.resume(app.clone()).await;
    }
    let (tx, rx) = oneshot::channel::<()>();
    let app2 = app.clone();
    let tls = config.tls.clone();
    if let Some(t) = &tls {
        tracing::info!("HTTPS: {}", t.description);
        for hint in t.trust_hints() {
            tracing::info!("to trust the local CA, {hint}");
        }
    }
    let task = tokio::spawn(http::serve(listener, router(app2), config.http, budget, tls.clone(), rx));
    tracing::info!(%addr, tls = tls.is_some(), "listening");
    Ok(Server { addr, store, app, tls: tls.is_some(), shutdown: Some(tx), task })
}

/// This worker's name in the lease table, kept in its store: a worker that
/// restarts (after `kill -9` too) takes its own leases back at once.
fn worker_id(store: &Store) -> anyhow::Result<String> {
    const KEY: &[u8] = b"worker/id";
    if let Some(id) = store.sys_get(KEY)? {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let short = uuid::Uuid::new_v4().simple().to_string();
    let id = if host.is_empty() { format!("worker-{}", &short[..12]) } else { format!("{host}-{}", &short[..12]) };
    store.sys_write(vec![(KEY.to_vec(), Some(id.clone().into_bytes()))])?;
    Ok(id)
}
