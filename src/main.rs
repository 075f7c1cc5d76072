//! The `tidepool` command line: `serve`, and the client commands that talk
//! to a running server (`deploy`, `invoke`, `functions`, `mappings`, `logs`).

mod cli;
mod data_cli;
mod dev;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tidepool::ServerConfig;
use tidepool_store::{Durability, StreamConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tidepool", version, about = "DynamoDB, DynamoDB Streams and Lambda in one binary")]
struct Cli {
    /// On an error, print its backtrace too (with `RUST_BACKTRACE=1`).
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum DurabilityArg {
    /// Acknowledge a write after an fsync that covers it (shared by
    /// concurrent writers). Survives power loss.
    Sync,
    /// Acknowledge once the write is in the OS page cache; fsync every
    /// --flush-interval-ms. Survives a killed process; a power loss can lose
    /// the last interval.
    Buffered,
}

#[derive(Clone, Copy, ValueEnum)]
enum TlsArg {
    /// A certificate made and kept by Tidepool (a local CA signs it).
    SelfSigned,
}

/// Where a client command finds the server.
#[derive(clap::Args)]
struct EndpointArg {
    /// The server's URL.
    #[arg(long, env = "TIDEPOOL_ENDPOINT", default_value = "http://127.0.0.1:8000", global = true)]
    endpoint: String,
    /// A CA file (PEM) to trust for an https:// endpoint, besides the
    /// system's and the local CA of `serve --tls self-signed`.
    #[arg(long, env = "AWS_CA_BUNDLE", global = true)]
    ca_bundle: Option<PathBuf>,
}

impl EndpointArg {
    fn parse(&self) -> anyhow::Result<cli::Endpoint> {
        cli::Endpoint::parse_trusting(&self.endpoint, &cli::trusted_cas(self.ca_bundle.as_deref()))
    }
}

/// The options of `tidepool workers` (`serve --source`).
#[derive(clap::Args, Debug)]
struct WorkerArgs {
    /// Read every event source mapping's stream from this engine's
    /// DynamoDB Streams API (`http://host:port`: another Tidepool,
    /// DynamoDB Local, moto…) instead of this server's own streams:
    /// `tidepool workers --source URL` (README, "Running triggers on
    /// another engine"). Requests are signed for `--region` with the
    /// environment's AWS credentials.
    #[arg(long, visible_alias = "stream-source", env = "TIDEPOOL_SOURCE")]
    source: Option<String>,
    /// With `--source` only: the table of the source engine where the
    /// workers of a fleet keep their leases and checkpoints (default
    /// `tidepool-leases`, created on first use; README, "Running a worker
    /// fleet").
    #[arg(long, env = "TIDEPOOL_LEASE_TABLE")]
    lease_table: Option<String>,
    /// With `--source` only: seconds a worker's lease lasts without renewal
    /// before another worker takes it (default 10; at least 3, at most
    /// 3600, else refused); a dead worker's shards move about one lease
    /// duration after its last renewal (README, "Running a worker fleet").
    #[arg(long, env = "TIDEPOOL_LEASE_DURATION")]
    lease_duration: Option<u64>,
}

impl WorkerArgs {
    /// The lease options, refused without a source when given on the
    /// command line: they would do nothing. From the environment (shared by
    /// a fleet's servers and workers) they are ignored without a source.
    fn leases(&self) -> anyhow::Result<(String, Duration)> {
        if self.source.is_none() {
            let from_env = |var: &str, value: Option<String>| value.is_some() && std::env::var(var).ok() == value;
            let table_given = self.lease_table.is_some() && !from_env("TIDEPOOL_LEASE_TABLE", self.lease_table.clone());
            let duration_given = self.lease_duration.is_some()
                && !from_env("TIDEPOOL_LEASE_DURATION", self.lease_duration.map(|d| d.to_string()));
            for (given, flag) in [(table_given, "--lease-table"), (duration_given, "--lease-duration")] {
                if given {
                    anyhow::bail!(
                        "{flag} applies to a worker, which reads another engine's streams: give --source URL too \
                         (tidepool workers --source URL {flag} ...), or leave {flag} out"
                    );
                }
            }
        }
        let table = self.lease_table.clone().unwrap_or_else(|| tidepool_runtime::esm::LEASE_TABLE.to_string());
        let duration = self.lease_duration.map_or(tidepool_runtime::esm::LEASE_DURATION, Duration::from_secs);
        Ok((table, duration))
    }
}

#[derive(Subcommand)]
enum ScheduleCommand {
    /// Fire the schedule again (missed fires are not caught up).
    Enable { name: String },
    /// Stop firing the schedule.
    Disable { name: String },
    /// Delete the schedule.
    Delete { name: String },
}

#[derive(Subcommand)]
enum Command {
    /// Serve the DynamoDB API. `tidepool workers --source URL` runs the
    /// same server as a trigger worker: its mappings read another engine's
    /// streams.
    #[command(visible_alias = "workers")]
    Serve {
        /// Port to listen on (DynamoDB Local's default).
        #[arg(long, default_value_t = 8000, env = "TIDEPOOL_PORT")]
        port: u16,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1", env = "TIDEPOOL_HOST")]
        host: IpAddr,
        /// Data directory. Defaults to `$XDG_DATA_HOME/tidepool` (or `~/.local/share/tidepool`).
        #[arg(long, env = "TIDEPOOL_DATA_DIR", conflicts_with = "in_memory")]
        data_dir: Option<PathBuf>,
        /// Keep data in a temporary directory deleted on exit (for tests).
        #[arg(long)]
        in_memory: bool,
        /// Region used in ARNs.
        #[arg(long, default_value = "us-east-1", env = "AWS_REGION")]
        region: String,
        /// Peer regions for global tables: `region=http://host:port`,
        /// comma-separated (each server is one region).
        #[arg(long, value_delimiter = ',', value_parser = parse_peer)]
        peers: Vec<(String, String)>,
        /// A local multi-region set in this process: one server per region
        /// (comma-separated), on consecutive ports from `--port`, each with
        /// its data under `<data-dir>/<region>`, peers of each other. The
        /// manifest applies to the first.
        #[arg(long, value_delimiter = ',', conflicts_with = "peers")]
        regions: Vec<String>,
        /// When an acknowledged write is on disk.
        #[arg(long, value_enum, default_value = "buffered")]
        durability: DurabilityArg,
        /// Background fsync interval for --durability buffered.
        #[arg(long, default_value_t = 100)]
        flush_interval_ms: u64,
        /// Open shards per stream; an item's records always go to the same one.
        #[arg(long, default_value_t = 4)]
        stream_shards: u32,
        /// Seconds before a stream's shards close and children open (AWS: about 4 hours).
        #[arg(long, default_value_t = 4 * 3600)]
        shard_rollover_secs: u64,
        /// Hours stream records stay readable (AWS: 24).
        #[arg(long, default_value_t = 24)]
        stream_retention_hours: u64,
        /// Give the stream records of writes replicated from another region
        /// `userIdentity` `{"Type": "Service", "PrincipalId":
        /// "replication.dynamodb.amazonaws.com"}`, to tell them from local
        /// writes (a Tidepool extension; AWS's records carry none).
        #[arg(long)]
        mark_replicated_writes: bool,
        /// The store's block cache in MiB: the memory budget for data, index
        /// and filter blocks of large tables (README, "Memory").
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(8..=1 << 20))]
        cache_mb: u64,
        /// Where exports are written and imports read: a directory per S3
        /// bucket (default: `s3` under the data directory).
        #[arg(long, env = "TIDEPOOL_S3_DIR")]
        s3_dir: Option<PathBuf>,
        /// Milliseconds between TTL sweeps that delete expired items.
        #[arg(long, default_value_t = 1000)]
        ttl_interval_ms: u64,
        /// Milliseconds after a change of a table's resource-based policy
        /// (or its stream's) or deletion protection during which another
        /// change is refused with ThrottlingException, as DynamoDB refuses
        /// it for 15 s. Lower it for scripts and tests that change these
        /// in a row.
        #[arg(long, default_value_t = 15_000, env = "TIDEPOOL_SETTING_COOLDOWN_MS")]
        setting_cooldown_ms: u64,
        /// Seconds after an UpdateTimeToLive that changed a table's Time to
        /// Live during which another is refused ("Time to live has been
        /// modified multiple times within a fixed interval"), as DynamoDB
        /// refuses it for an hour. 0 lets tests switch TTL on and off.
        #[arg(long, default_value_t = 3600, env = "TIDEPOOL_TTL_COOLDOWN_SECS")]
        ttl_cooldown_secs: u64,
        /// A manifest of tables, functions and event source mappings to apply
        /// (idempotently) at start.
        #[arg(long, env = "TIDEPOOL_MANIFEST")]
        manifest: Option<PathBuf>,
        /// Show functions' log lines (START, output, END, REPORT) in this
        /// log at INFO; without it they are at DEBUG.
        #[arg(long)]
        log_functions: bool,
        /// Client connections served at once; past it an idle connection is
        /// closed for the new one, or the new one is throttled. 0 derives it
        /// from the open-file limit (README, "Limits").
        #[arg(long, default_value_t = 0, env = "TIDEPOOL_MAX_CONNECTIONS")]
        max_connections: usize,
        /// Seconds a client has to send a complete request head.
        #[arg(long, default_value_t = tidepool::http::HEADER_READ_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
        header_read_timeout_secs: u64,
        /// Seconds a kept-alive connection may wait for its next request.
        #[arg(long, default_value_t = tidepool::http::IDLE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
        idle_timeout_secs: u64,
        /// Seconds a request body has to arrive in full after its head.
        #[arg(long, default_value_t = tidepool::http::BODY_READ_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
        body_read_timeout_secs: u64,
        /// Seconds a client may read none of its response before it is cut off.
        #[arg(long, default_value_t = tidepool::http::WRITE_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
        write_timeout_secs: u64,
        /// Guest memory (MB) that running function invocations may reserve
        /// together; each reserves its function's MemorySize (README, "Limits").
        #[arg(long, default_value_t = tidepool_runtime::limits::DEFAULT_MAX_GUEST_MEMORY_MB, value_parser = clap::value_parser!(u32).range(128..=1 << 20))]
        guest_memory_mb: u32,
        /// Switch authentication on: every API request must be signed
        /// (SigV4) by a key of this TOML file (README, "Security").
        #[arg(long, env = "TIDEPOOL_AUTH")]
        auth: Option<PathBuf>,
        /// Serve HTTPS with this certificate chain (PEM, the server's first).
        #[arg(long, env = "TIDEPOOL_TLS_CERT", requires = "tls_key", conflicts_with = "tls")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
        #[arg(long, env = "TIDEPOOL_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// `self-signed`: serve HTTPS with a certificate for localhost made by
        /// a local CA under the data directory's `tls/`, reused on every start
        /// (README, "Security").
        #[arg(long, value_enum, env = "TIDEPOOL_TLS")]
        tls: Option<TlsArg>,
        /// Encrypt values at rest with the key in this file (32 bytes, raw,
        /// hex or base64; `head -c 32 /dev/urandom > key`). Chosen when the
        /// data directory is made (README, "Security").
        #[arg(long, env = "TIDEPOOL_ENCRYPTION_KEY")]
        encryption_key: Option<PathBuf>,
        /// `report` (the default, as DynamoDB Local: consumed capacity is
        /// reported, nothing throttled) or `enforce`: tables are throttled
        /// past their provisioned capacity, on-demand maximums and the
        /// per-key limits, as on DynamoDB (README, "Capacity and throttling").
        #[arg(long, default_value = "report", env = "TIDEPOOL_CAPACITY")]
        capacity: tidepool::capacity::Mode,
        /// The cost meter's price table (TOML, the keys of the shipped
        /// us-east-1 table; README, "What will this cost?").
        #[arg(long, env = "TIDEPOOL_PRICES")]
        prices: Option<PathBuf>,
        #[command(flatten)]
        worker: Box<WorkerArgs>,
    },
    /// Apply a manifest (tables, functions, mappings) to a running server;
    /// code files are read here and uploaded.
    Deploy {
        /// The manifest (TOML).
        manifest: PathBuf,
        /// Print what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// Invoke a function and print its response; a function error goes to
    /// stderr with exit status 1.
    Invoke {
        /// Name or ARN.
        function: String,
        /// The event (JSON); `-` reads it from stdin.
        #[arg(default_value = "{}")]
        payload: String,
        /// Also print the invocation's log (its last 4 KB) to stderr.
        #[arg(long)]
        log: bool,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// List the deployed functions.
    Functions {
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// What each table's use since it was made would cost on
    /// DynamoDB, a month of it at the observed rate, and the cheaper
    /// capacity mode (README, "What will this cost?").
    Cost {
        /// Print the JSON of `GET /tidepool/cost` instead of the table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// The keys of a table (or global index) accessed and throttled most,
    /// from its Contributor Insights rules (enable them with `aws dynamodb
    /// update-contributor-insights`).
    Insights {
        /// The table.
        table: String,
        /// A global secondary index of the table instead.
        #[arg(long)]
        index: Option<String>,
        /// The last minutes to count (1 to 60).
        #[arg(long, default_value_t = 60)]
        minutes: u64,
        /// The keys to list per rule at most (1 to 100).
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print the JSON of `GET /tidepool/insights` instead of the tables.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// List the event source mappings with their state, iterator age and
    /// last processing result.
    Mappings {
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// Build a handler directory into a component: Rust (Cargo.toml) with
    /// cargo, JavaScript or TypeScript (export const handler = async (event,
    /// context) => ...) with esbuild and componentize-js, Python (def
    /// handler(event, context)) with componentize-py; the tools are
    /// installed on first use.
    Build {
        /// The handler's directory.
        dir: PathBuf,
        /// Where to write the component (default: <dir>/<dir name>.wasm;
        /// Rust's stays in its target directory).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Lambda's Handler setting, module.function (JavaScript: default
        /// index.handler, handler.handler or app.handler; Python: default
        /// lambda_function.lambda_handler, handler.handler or app.handler).
        #[arg(long)]
        handler: Option<String>,
    },
    /// Run the server with a manifest, rebuild and redeploy a function's
    /// handler when its sources change (any language `build` knows), and
    /// show the functions' logs: `tidepool dev [tidepool.toml] [-- serve
    /// options, e.g. --port 0 --in-memory]`.
    Dev {
        /// The manifest.
        #[arg(default_value = "tidepool.toml")]
        manifest: PathBuf,
        /// Options for `tidepool serve`, after `--`.
        #[arg(last = true)]
        serve: Vec<std::ffi::OsString>,
    },
    /// Make a handler project to start from: a Rust crate on tidepool-guest,
    /// its manifest and a README with the next steps.
    New {
        /// The project's name: its directory, crate, function and table prefix.
        name: String,
        /// Where to make it (default: ./<name>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The tidepool-guest crate (this repository's guest/), if this
        /// binary was built from another tree.
        #[arg(long)]
        guest: Option<PathBuf>,
    },
    /// List the cron schedules, or enable, disable or delete one.
    Schedules {
        #[command(subcommand)]
        action: Option<ScheduleCommand>,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// Back a table up (CreateBackup), with a progress bar, until it is AVAILABLE.
    Backup {
        table: String,
        /// The backup's name (default: the table's, with the time).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// Restore a backup (its ARN) or a table's point in time (its name or
    /// ARN) into a new table, with a progress bar, until it is ACTIVE.
    Restore {
        /// A backup ARN, or the name or ARN of a table with point-in-time recovery.
        source: String,
        /// The new table.
        target: String,
        /// The moment to restore a table to (epoch seconds, or
        /// 2026-12-04T19:00:00Z); default: the latest restorable.
        #[arg(long)]
        time: Option<String>,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// Export a table (ExportTableToPointInTime; it needs point-in-time
    /// recovery) into a bucket of the server's --s3-dir.
    Export {
        table: String,
        #[arg(long)]
        bucket: String,
        #[arg(long)]
        prefix: Option<String>,
        /// DYNAMODB_JSON or ION.
        #[arg(long, default_value = "DYNAMODB_JSON")]
        format: String,
        /// The moment to export (default: the latest).
        #[arg(long)]
        time: Option<String>,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// Import files into a new table (ImportTable): a local file or
    /// directory (copied into the server's --s3-dir when it runs on this
    /// machine), or with --bucket a key prefix of that bucket.
    Import {
        /// A file or directory (DynamoDB JSON, ION or CSV, maybe .gz or
        /// .zst), or with --bucket a key prefix.
        path: String,
        /// The new table.
        table: String,
        /// The partition key, `name:S` (or :N, :B).
        #[arg(long)]
        key: String,
        /// The sort key, `name:S` (or :N, :B).
        #[arg(long)]
        sort: Option<String>,
        #[arg(long)]
        bucket: Option<String>,
        /// DYNAMODB_JSON, ION or CSV (default: from the file name).
        #[arg(long)]
        format: Option<String>,
        /// GZIP, ZSTD or NONE (default: from the file name).
        #[arg(long)]
        compression: Option<String>,
        /// A CSV file's delimiter: `,` (the default), `;`, `:`, `|`, a tab
        /// or a space, as ImportTable takes.
        #[arg(long)]
        delimiter: Option<String>,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// Empty the server: delete every mapping, schedule, function and table
    /// (for test suites that share one server). Asks first on a terminal.
    Reset {
        /// Do not ask.
        #[arg(long, short)]
        yes: bool,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
    /// Print a function's kept log lines.
    Logs {
        /// Name or ARN.
        function: String,
        /// Keep printing new lines as they come.
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        endpoint: EndpointArg,
    },
}

fn default_data_dir() -> PathBuf {
    cli::default_data_dir()
}

/// Starts the server. A server that restarted itself after a failed write
/// (`tidepool::recovery`) tries again, backing off, if the data directory
/// cannot be opened yet (the disk filled up again), up to
/// `MAX_START_TRIES` times; then it exits with the error.
/// Most regions `--regions` starts in one process.
const MAX_LOCAL_REGIONS: usize = 8;

/// `serve --regions a,b,c`: one server per region in this process, peers
/// of each other, until a shutdown signal.
async fn serve_regions(config: ServerConfig, regions: &[String]) -> anyhow::Result<()> {
    if regions.len() > MAX_LOCAL_REGIONS {
        anyhow::bail!("--regions takes at most {MAX_LOCAL_REGIONS} regions");
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = regions.iter().find(|r| !seen.insert(r.as_str())) {
        anyhow::bail!("--regions names {dup} twice");
    }
    // Ports: consecutive from --port, or free ones for --port 0.
    let base = config.listen.port();
    let mut ports = Vec::new();
    for i in 0..regions.len() {
        ports.push(if base == 0 {
            std::net::TcpListener::bind((config.listen.ip(), 0))?.local_addr()?.port()
        } else {
            base.checked_add(i as u16).context("--port leaves no room for the regions' ports")?
        });
    }
    let host = match config.listen.ip() {
        ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    // In memory, every region shares one temporary directory.
    let scratch = if config.data_dir.is_none() { Some(tempfile_dir()?) } else { None };
    let root = config.data_dir.clone().or_else(|| scratch.clone()).context("a data directory")?;
    let mut servers = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        let peers = regions
            .iter()
            .zip(&ports)
            .filter(|(r, _)| *r != region)
            .map(|(r, p)| (r.clone(), format!("http://{}", SocketAddr::new(host, *p))))
            .collect();
        let c = ServerConfig {
            listen: SocketAddr::new(config.listen.ip(), ports[i]),
            data_dir: Some(root.join(region)),
            region: region.clone(),
            peers,
            manifest: if i == 0 { config.manifest.clone() } else { None },
            ..config.clone()
        };
        let server = start_serving(c).await.with_context(|| format!("start region {region}"))?;
        let _ = writeln!(std::io::stdout().lock(), "tidepool listening on {} ({region})", server.endpoint());
        servers.push(server);
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    for s in servers {
        s.stop().await?;
    }
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// A fresh temporary directory for `--in-memory --regions`.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    // Named afresh each run (a container's process id repeats).
    let dir = std::env::temp_dir().join(format!("tidepool-regions-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

async fn start_serving(config: ServerConfig) -> anyhow::Result<tidepool::Server> {
    let restarted = tidepool::recovery::attempt();
    let mut tries = 0;
    loop {
        match tidepool::start(config.clone()).await {
            Ok(server) => return Ok(server),
            Err(e) if restarted > 0 && tries < tidepool::recovery::MAX_START_TRIES => {
                tries += 1;
                let wait = tidepool::recovery::backoff(tries).max(tidepool::recovery::CHECK_INTERVAL);
                tracing::error!(error = %format!("{e:#}"), wait_secs = wait.as_secs(), "restarting the server failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Stack of each runtime thread (async workers and blocking threads). An
/// expression may nest as deep as its 300 operators allow (DynamoDB serves
/// 149 levels of `a < b OR (…)`), and parsing, resolving, evaluating and
/// dropping it recurse once per level: 2 MiB, the default, overflowed at
/// about 115 levels in a debug build and took the whole process down. The
/// memory is reserved, not committed: threads touch only what they use.
const THREAD_STACK_BYTES: usize = 32 * 1024 * 1024;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let debug = cli.debug;
    let ran = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK_BYTES)
        .build()
        .context("start the async runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    match ran {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on; the chain of causes and a
            // backtrace only when asked for.
            if debug {
                eprintln!("tidepool: error: {e:?}");
            } else {
                eprintln!("tidepool: error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// The server's log: to stderr, coloured only on a terminal, at INFO
/// unless `RUST_LOG` says otherwise. The storage engine's lifecycle lines
/// (opening, recovering, each flush) are at its DEBUG; its warnings and
/// errors are shown.
fn init_server_log() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .init();
}

/// The server's log filter when `RUST_LOG` is not set: fjall and its LSM
/// tree log every open, recovery and ingestion at INFO.
/// `region=http://host:port`.
fn parse_peer(s: &str) -> Result<(String, String), String> {
    let (region, url) = s.split_once('=').ok_or_else(|| format!("a peer is region=http://host:port (got {s})"))?;
    tidepool::global_tables::client::authority(url).map_err(|e| e.to_string())?;
    Ok((region.trim().to_string(), url.trim().to_string()))
}

const DEFAULT_LOG_FILTER: &str = "info,fjall=warn,lsm_tree=warn";

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            port,
            host,
            data_dir,
            in_memory,
            region,
            peers,
            regions,
            durability,
            flush_interval_ms,
            stream_shards,
            shard_rollover_secs,
            stream_retention_hours,
            mark_replicated_writes,
            cache_mb,
            s3_dir,
            ttl_interval_ms,
            setting_cooldown_ms,
            ttl_cooldown_secs,
            manifest,
            log_functions,
            max_connections,
            header_read_timeout_secs,
            idle_timeout_secs,
            body_read_timeout_secs,
            write_timeout_secs,
            guest_memory_mb,
            auth,
            tls_cert,
            tls_key,
            tls,
            encryption_key,
            capacity,
            prices,
            worker,
        } => {
            let (lease_table, lease_duration) = worker.leases()?;
            let source = worker.source;
            // Only the server logs: the client commands print their answers.
            init_server_log();
            tidepool::lambda::logs::set_show_at_info(log_functions);
            match tidepool::http::raise_descriptor_limit() {
                Ok(limit) => tracing::debug!(limit, "open-file limit"),
                Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit to its hard limit"),
            }
            tidepool::recovery::survive_file_size_limit();
            let started = std::time::Instant::now();
            // A server that restarted itself (`tidepool::recovery`) listens
            // where it did before, even if it was started with `--port 0`.
            let port = tidepool::recovery::inherited_port().unwrap_or(port);
            let data_dir = if in_memory { None } else { Some(data_dir.unwrap_or_else(default_data_dir)) };
            if let Some(d) = &data_dir {
                std::fs::create_dir_all(d).with_context(|| format!("create data directory {}", d.display()))?;
            }
            // `--auth`, else the manifest's `auth` (relative to it).
            let auth = match &auth {
                Some(path) => Some(path.clone()),
                None => match &manifest {
                    Some(m) => tidepool::lambda::manifest::Manifest::load(m)?.auth_file(),
                    None => None,
                },
            };
            let auth = match &auth {
                Some(path) => Some(std::sync::Arc::new(tidepool::http::auth::Auth::load(path)?)),
                None => None,
            };
            let tls = match (tls, &tls_cert, &tls_key) {
                (Some(TlsArg::SelfSigned), _, _) => {
                    // With --in-memory, under the default data directory:
                    // a client trusts the CA once, not once per run.
                    let dir =
                        data_dir.clone().unwrap_or_else(default_data_dir).join(tidepool::http::tls::SELF_SIGNED_DIR);
                    let names = tidepool::http::tls::self_signed_names(host, &region);
                    Some(std::sync::Arc::new(tidepool::http::tls::Tls::self_signed(&dir, &names)?))
                }
                (None, Some(cert), Some(key)) => {
                    Some(std::sync::Arc::new(tidepool::http::tls::Tls::from_files(cert, key)?))
                }
                _ => None,
            };
            let encryption = match &encryption_key {
                Some(path) => Some(tidepool_store::cipher::EncryptionKey::load(path).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let prices = match &prices {
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("read the price table {}", path.display()))?;
                    Some(tidepool::cost::Prices::parse(&text).map_err(anyhow::Error::msg)?)
                }
                None => None,
            };
            let config = ServerConfig {
                stream_source: source,
                lease_table,
                lease_duration,
                setting_cooldown: Duration::from_millis(setting_cooldown_ms),
                ttl_cooldown: Duration::from_secs(ttl_cooldown_secs),
                prices,
                capacity,
                encryption,
                tls,
                auth,
                listen: SocketAddr::new(host, port),
                data_dir,
                region,
                durability: match durability {
                    DurabilityArg::Sync => Durability::Sync,
                    DurabilityArg::Buffered => {
                        Durability::Buffered { flush_interval: Duration::from_millis(flush_interval_ms.max(1)) }
                    }
                },
                streams: StreamConfig {
                    shards: stream_shards.clamp(1, 1024),
                    rollover: Duration::from_secs(shard_rollover_secs.max(1)),
                    retention: Duration::from_secs(stream_retention_hours.max(1) * 3600),
                    mark_replicated_writes,
                },
                ttl_interval: Duration::from_millis(ttl_interval_ms.max(10)),
                manifest,
                cache_bytes: cache_mb * 1024 * 1024,
                s3_dir,
                http: tidepool::http::HttpLimits {
                    max_connections,
                    header_read_timeout: Duration::from_secs(header_read_timeout_secs),
                    idle_timeout: Duration::from_secs(idle_timeout_secs),
                    body_read_timeout: Duration::from_secs(body_read_timeout_secs),
                    write_timeout: Duration::from_secs(write_timeout_secs),
                },
                guest_memory_mb,
                peers: peers.into_iter().collect(),
                ..ServerConfig::default()
            };
            if !regions.is_empty() {
                return serve_regions(config, &regions).await;
            }
            let persistent = config.data_dir.is_some();
            let server = start_serving(config).await?;
            // Not `println!`: it panics if stdout is closed, which a server
            // that restarted itself may find (its first reader gone).
            let _ = writeln!(std::io::stdout().lock(), "tidepool listening on {}", server.endpoint());
            let store = server.store.clone();
            tokio::select! {
                () = shutdown_signal() => {
                    tracing::info!("shutting down");
                    server.stop().await?;
                }
                attempt = tidepool::recovery::until_restart_is_due(&store, persistent, started) => {
                    let port = server.addr.port();
                    tokio::select! {
                        drained = tokio::time::timeout(tidepool::recovery::DRAIN, server.stop()) => if drained.is_err() {
                            tracing::warn!("in-flight work did not finish within the drain time; restarting anyway");
                        },
                        () = shutdown_signal() => {
                            tracing::info!("asked to stop while restarting; exiting");
                            // As below: nothing of the store may be written now.
                            std::process::exit(1);
                        }
                    }
                    // Never dropped: closing would hand fjall's journal buffer,
                    // with writes that were refused, to the disk. `exec`
                    // discards the process as `kill -9` would.
                    std::mem::forget(store);
                    let e = tidepool::recovery::restart(port, attempt);
                    anyhow::bail!("restart the server to reopen its store: {e}");
                }
            }
        }
        Command::Deploy { manifest, dry_run, endpoint } => cli::deploy(&manifest, dry_run, &endpoint.parse()?).await?,
        Command::Invoke { function, payload, log, endpoint } => {
            let payload = if payload == "-" {
                std::io::read_to_string(std::io::stdin()).context("read the payload from stdin")?
            } else {
                payload
            };
            let code = cli::invoke(&function, &payload, log, &endpoint.parse()?).await?;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Command::Build { dir, out, handler } => {
            let built = tidepool::build::build(&dir, out.as_deref(), handler.as_deref())?;
            println!("{}", built.display());
        }
        Command::Dev { manifest, serve } => {
            init_server_log();
            dev::run(&manifest, serve).await?;
        }
        Command::New { name, dir, guest } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let files = tidepool::scaffold::new_project(&name, &dir, guest.as_deref())?;
            for f in files {
                println!("created {}", f.display());
            }
            println!("next: cd {} and follow README.md (build, deploy, write, see the logs)", dir.display());
        }
        Command::Schedules { action, endpoint } => {
            let action = action.as_ref().map(|a| match a {
                ScheduleCommand::Enable { name } => (cli::ScheduleAction::Enable, name.as_str()),
                ScheduleCommand::Disable { name } => (cli::ScheduleAction::Disable, name.as_str()),
                ScheduleCommand::Delete { name } => (cli::ScheduleAction::Delete, name.as_str()),
            });
            cli::schedules(action, &endpoint.parse()?).await?
        }
        Command::Reset { yes, endpoint } => {
            let endpoint = endpoint.parse()?;
            use std::io::IsTerminal;
            if !yes && std::io::stdin().is_terminal() {
                eprint!("delete every table, function, mapping and schedule on {}? [y/N] ", endpoint.url());
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer).context("read the answer")?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    anyhow::bail!("not reset");
                }
            }
            cli::reset(&endpoint).await?
        }
        Command::Functions { endpoint } => cli::functions(&endpoint.parse()?).await?,
        Command::Cost { json, endpoint } => cli::cost(&endpoint.parse()?, json).await?,
        Command::Insights { table, index, minutes, top, json, endpoint } => {
            cli::insights(&endpoint.parse()?, &table, index.as_deref(), minutes, top, json).await?
        }
        Command::Mappings { endpoint } => cli::mappings(&endpoint.parse()?).await?,
        Command::Logs { function, follow, endpoint } => cli::logs(&function, follow, &endpoint.parse()?).await?,
        Command::Backup { table, name, endpoint } => {
            data_cli::backup(&table, name.as_deref(), &endpoint.parse()?).await?
        }
        Command::Restore { source, target, time, endpoint } => {
            data_cli::restore(&source, &target, time.as_deref(), &endpoint.parse()?).await?
        }
        Command::Export { table, bucket, prefix, format, time, endpoint } => {
            data_cli::export(&table, &bucket, prefix.as_deref(), &format, time.as_deref(), &endpoint.parse()?).await?
        }
        Command::Import { path, table, key, sort, bucket, format, compression, delimiter, endpoint } => {
            let source = data_cli::ImportSource {
                path: &path,
                bucket: bucket.as_deref(),
                format: format.as_deref(),
                compression: compression.as_deref(),
                delimiter: delimiter.as_deref(),
            };
            data_cli::import(source, &table, &key, sort.as_deref(), &endpoint.parse()?).await?
        }
    }
    Ok(())
}
