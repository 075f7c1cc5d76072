//! Instantiate + invoke of the trivial `echo` component with the pooling allocator, compile and
//! cache-load times, and memory per idle loaded function.
//!
//! `cargo bench -p tidepool-runtime` (release). Prints a table; numbers go to BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tidepool_runtime::examples::example_bytes;
use tidepool_runtime::{FunctionConfig, InvokeOptions, NoStore, Runtime, RuntimeConfig};

const WARMUP: usize = 2_000;
const SAMPLES: usize = 50_000;
const IDLE_FUNCTIONS: usize = 1_000;
const DISTINCT_CODES: usize = 50;

fn main() {
    let echo = example_bytes("echo");
    let dir = tempfile::tempdir().expect("create a cache directory");
    let runtime = Runtime::new(RuntimeConfig::new(dir.path()), Arc::new(NoStore)).expect("create the runtime");

    let started = Instant::now();
    let hash = runtime.compile(&echo).expect("compile echo");
    let compile = started.elapsed();
    let function = runtime.load_function(config("echo"), &hash).expect("load echo");

    let event = r#"{"Records":[]}"#;
    for _ in 0..WARMUP {
        run(&function, event);
    }
    let mut wall = Vec::with_capacity(SAMPLES);
    let mut inner = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let duration = run(&function, event);
        wall.push(started.elapsed());
        inner.push(duration);
    }
    let wall_total: Duration = wall.iter().sum();

    // Cache load: a fresh runtime on the same directory maps the precompiled file.
    let restarted = Runtime::new(RuntimeConfig::new(dir.path()), Arc::new(NoStore)).expect("create the runtime");
    let started = Instant::now();
    let reloaded = restarted.load_function(config("echo"), &hash).expect("load from the cache");
    let cache_load = started.elapsed();
    assert_eq!(restarted.stats().compilations, 0);
    drop((reloaded, restarted));

    // Idle functions sharing one component.
    let before = rss_bytes();
    let shared: Vec<_> =
        (0..IDLE_FUNCTIONS).map(|i| runtime.load_function(config(&format!("f{i}")), &hash).unwrap()).collect();
    let per_shared = (rss_bytes() - before) as f64 / IDLE_FUNCTIONS as f64;

    // Idle functions with code of their own (echo plus a distinct custom section), loaded from
    // the cache by a fresh runtime, as after a restart.
    let hashes: Vec<_> =
        (0..DISTINCT_CODES).map(|i| runtime.compile(&with_custom_section(&echo, i)).unwrap()).collect();
    let fresh = Runtime::new(RuntimeConfig::new(dir.path()), Arc::new(NoStore)).expect("create the runtime");
    let warm = fresh.load_function(config("warm"), &hash).unwrap();
    run(&warm, "{}");
    let before = rss_bytes();
    let own: Vec<_> = hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| {
            let f = fresh.load_function(config(&format!("g{i}")), hash).unwrap();
            run(&f, "{}");
            f
        })
        .collect();
    let per_own = (rss_bytes() - before) as f64 / DISTINCT_CODES as f64;
    drop((shared, own));

    println!("echo component: {} bytes", echo.len());
    println!("instantiate + invoke + drop, {SAMPLES} calls, 1 thread, pooling allocator:");
    println!(
        "  wall (Store + WASI + instantiate + call + drop): p50 {}  p99 {}  mean {:.2} µs  ({:.0} calls/s)",
        us(percentile(&mut wall, 50.0)),
        us(percentile(&mut wall, 99.0)),
        wall_total.as_secs_f64() * 1e6 / SAMPLES as f64,
        SAMPLES as f64 / wall_total.as_secs_f64()
    );
    println!(
        "  reported duration (instantiate + call): p50 {}  p99 {}",
        us(percentile(&mut inner, 50.0)),
        us(percentile(&mut inner, 99.0))
    );
    println!("compile (Cranelift, at deploy): {:.1} ms", compile.as_secs_f64() * 1e3);
    println!("load from the precompiled cache after a restart: {:.2} ms", cache_load.as_secs_f64() * 1e3);
    println!("RSS per idle loaded function sharing code: {:.1} KiB", per_shared / 1024.0);
    println!("RSS per idle loaded function with its own code (invoked once): {:.1} KiB", per_own / 1024.0);
}

fn run(function: &tidepool_runtime::LoadedFunction, event: &str) -> Duration {
    let invocation = function.try_invoke(event, InvokeOptions::new().request_id("bench")).expect("not throttled");
    assert!(invocation.result.is_ok());
    invocation.duration
}

fn config(name: &str) -> FunctionConfig {
    FunctionConfig::new(name, "us-east-1", "000000000000")
}

/// `component` with a custom section named `bench-<i>` appended: a different hash, the same code.
fn with_custom_section(component: &[u8], i: usize) -> Vec<u8> {
    let name = format!("bench-{i}");
    let mut bytes = component.to_vec();
    bytes.push(0); // custom section id
    bytes.push((1 + name.len()) as u8); // section size: the name's length byte and the name
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name.as_bytes());
    bytes
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() - 1) as f64 * p / 100.0).round() as usize]
}

fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

/// Resident set size from `/proc/self/statm` (Linux).
fn rss_bytes() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: i64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}
