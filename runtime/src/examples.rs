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
pub const EXAMPLES: &[&str] = &["echo", "leaderboard", "partial-batch", "always-fail", "misbehave", "tick"];

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

fn build() -> Result<PathBuf, String> {
    let target_dir = target_dir();
    let manifest = repo_root().join("examples").join("Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo_root().join("examples"))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        // Settings meant for the outer build, not for the guests.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|e| format!("run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build of {} failed ({}):\n{}",
            manifest.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(target_dir.join("wasm32-wasip2").join("release"))
}
