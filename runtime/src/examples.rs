//! Builds the guest handlers of `examples/` for tests and benchmarks.
//!
//! `examples/` is a cargo workspace of its own. [`build_examples`] runs
//! `cargo build --release --target wasm32-wasip2` on it once per process, into
//! `<target dir>/wasm-examples`: a target directory of its own, so the nested cargo never waits
//! on the lock of the build that runs the tests. Cargo's own locking serializes test processes
//! that build at the same time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The guest handlers `examples/` holds, by crate name.
pub const EXAMPLES: &[&str] =
    &["echo", "leaderboard", "leaderboard-sdk", "partial-batch", "always-fail", "misbehave", "tick", "order-check"];

/// The target guest components are built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Adds [`WASM_TARGET`] to the toolchain that builds in `dir` when rustup
/// manages it and the target is missing: `rust-toolchain.toml` adds it only
/// when rustup installs the toolchain, not to one already installed without
/// it. With `crate_toolchain`, `RUSTUP_TOOLCHAIN` is ignored (the crate's own
/// `rust-toolchain.toml` decides, as in its own build). Without rustup this
/// does nothing, and cargo's error says what is missing.
///
/// # Errors
/// When `rustup target add` fails (for example offline).
pub fn ensure_wasm_target(dir: &Path, crate_toolchain: bool) -> Result<(), String> {
    let rustup = |args: &[&str]| {
        let mut c = Command::new("rustup");
        c.current_dir(dir).args(args);
        if crate_toolchain {
            c.env_remove("RUSTUP_TOOLCHAIN");
        }
        c
    };
    let installed = match rustup(&["target", "list", "--installed"]).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        // No rustup, or a toolchain it does not manage.
        _ => return Ok(()),
    };
    if installed.lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    tracing::info!("adding the {WASM_TARGET} target to the Rust toolchain (rustup target add {WASM_TARGET})");
    let status = rustup(&["target", "add", WASM_TARGET])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("run rustup: {e}"))?;
    if !status.success() {
        return Err(format!("rustup target add {WASM_TARGET} failed ({status}); run it, then build again"));
    }
    Ok(())
}

/// The repository root (this crate is `<root>/runtime`).
fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the runtime crate lives in the repository root")
}

/// `$CARGO_TARGET_DIR` (relative to the repository root if relative) or `<root>/target`,
/// then `wasm-examples`.
fn target_dir() -> PathBuf {
    let base = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => repo_root().join(dir),
        None => repo_root().join("target"),
    };
    base.join("wasm-examples")
}

/// Builds every example (once per process) and returns the directory holding the `.wasm`
/// components, named after their crates with `-` as `_` (use [`example_path`]).
///
/// # Errors
/// The build's output when cargo fails (for example without the `wasm32-wasip2` target).
pub fn build_examples() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(build).clone()
}

/// The path of example `name` (a crate name, e.g. `partial-batch`), building the examples first.
///
/// # Panics
/// If the examples do not build: for tests.
pub fn example_path(name: &str) -> PathBuf {
    let dir = build_examples().unwrap_or_else(|e| panic!("build the wasm examples: {e}"));
    dir.join(format!("{}.wasm", name.replace('-', "_")))
}

/// The bytes of example `name`, building the examples first.
///
/// # Panics
/// If the examples do not build or the file cannot be read: for tests.
pub fn example_bytes(name: &str) -> Vec<u8> {
    let path = example_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// How often a long build of the examples says how far it got.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// The most of cargo's output kept for the error of a failed build.
const MAX_BUILD_OUTPUT_BYTES: usize = 64 * 1024;

fn build() -> Result<PathBuf, String> {
    use std::io::BufRead;
    let target_dir = target_dir();
    let manifest = repo_root().join("examples").join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    ensure_wasm_target(&repo_root().join("examples"), false)?;
    let started = std::time::Instant::now();
    let mut child = Command::new(cargo)
        .current_dir(repo_root().join("examples"))
        .args(["build", "--release", "--target", WASM_TARGET, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // Settings meant for the outer build, not for the guests.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TERM_PROGRESS_WHEN", "never")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("run cargo: {e}"))?;
    // cargo's lines as they come: a first build takes minutes, so say
    // every few seconds which crate it is on rather than nothing at all.
    let progress = std::sync::Arc::new(std::sync::Mutex::new((0usize, String::new())));
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let reporter = {
        let progress = progress.clone();
        std::thread::spawn(move || {
            // Until the sender is dropped: the build is over.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(PROGRESS_EVERY) {
                let state = progress.lock().unwrap_or_else(|p| p.into_inner());
                let (compiled, now) = &*state;
                if *compiled == 0 {
                    continue;
                }
                tracing::info!(
                    "building the example handlers: {compiled} crates compiled, now {now} ({} s)",
                    started.elapsed().as_secs()
                );
            }
        })
    };
    // The last lines: where cargo puts the error.
    let mut output = std::collections::VecDeque::new();
    let mut kept = 0usize;
    if let Some(stderr) = child.stderr.take() {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(what) = line.trim_start().strip_prefix("Compiling ") {
                let mut state = progress.lock().unwrap_or_else(|p| p.into_inner());
                state.0 += 1;
                state.1 = what.to_string();
            }
            kept += line.len() + 1;
            output.push_back(line);
            while kept > MAX_BUILD_OUTPUT_BYTES && output.len() > 1 {
                kept -= output.pop_front().map_or(0, |l| l.len() + 1);
            }
        }
    }
    drop(done);
    let _ = reporter.join();
    let compiled = progress.lock().unwrap_or_else(|p| p.into_inner()).0;
    let output: Vec<String> = output.into();
    let output = output.join("\n");
    let status = child.wait().map_err(|e| format!("wait for cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of {} failed ({status}):\n{output}", manifest.display()));
    }
    if compiled > 0 {
        tracing::info!(crates = compiled, secs = started.elapsed().as_secs(), "built the example handlers");
    }
    Ok(target_dir.join("wasm32-wasip2").join("release"))
}
